#include "pool/pool.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/time_util.h"
#include "pool/slot.h"
#include "pool/spare_child.h"
#include "sandbox/fork_server.h"
#include "sandbox/process_stats.h"

namespace kiln::pool {

namespace {

constexpr std::chrono::seconds kBackgroundStartBackoff{5};

}  // namespace

Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_, std::move(container_));
}

std::string OomMessage(const Container& c) {
  std::string peak;
  if (auto mb = c.PeakMemoryMb()) peak = " (peak " + std::to_string(static_cast<int64_t>(*mb)) + " MB)";
  return "the container went over its memory limit of " + std::to_string(c.memory_mb()) + " MB" + peak +
         " and was killed";
}

Pool::Pool(asio::any_io_executor ex, PoolConfig config, ContainerSpecFn container_spec, ContainerSink sink,
           const Clock* clock)
    : ex_(ex),
      config_(std::move(config)),
      container_spec_(std::move(container_spec)),
      sink_(std::move(sink)),
      clock_(clock),
      zygotes_(ex, ZygoteConfig{config_.worker_path, config_.sandbox, config_.blocking, config_.zygote_memory_mb,
                                config_.init_timeout}),
      budget_(config_.memory_budget_mb, [this] { return zygotes_.reserved_mb(); }),
      reconcile_timer_(ex) {}

Pool::~Pool() { Shutdown(); }

std::shared_ptr<Slot> Pool::SlotFor(const FunctionVersion& fv) {
  auto& slot = slots_[KeyOf(fv)];
  if (!slot) slot = std::make_shared<Slot>(fv, Resolve(config_.defaults, fv.pool), clock_->Now());
  return slot;
}

ContainerRecord Pool::RecordOf(const Slot& s, const Container& c) const {
  ContainerRecord r;
  r.id = c.id();
  r.function = s.fv.function;
  r.version = s.fv.version;
  r.pid = c.pid();
  r.started_at = c.started_at_ms();
  r.init_ms = c.init_ms;
  r.invocations = c.invocations();
  r.start = c.start;
  if (c.state() == ContainerState::kGone) {
    r.ended_at = NowEpochMs();
    r.reason = LeaveReasonName(c.leave_reason());
    r.detail = c.exit_how().value_or("");
  }
  return r;
}

std::map<std::string, std::map<int64_t, int64_t>> Pool::QueueDepths() const {
  std::map<std::string, std::map<int64_t, int64_t>> out;
  for (const auto& [key, s] : slots_) {
    if (!s->waiters.empty()) out[s->fv.function][s->fv.version] = static_cast<int64_t>(s->waiters.size());
  }
  return out;
}

int64_t Pool::UsedMemoryMb() const { return budget_.used_mb(); }

bool Pool::ClaimPlace(Slot& s, bool may_evict, std::optional<std::string_view> successor_of) {
  if (!s.places.Admits(successor_of)) return false;
  const int64_t need = s.fv.memory_mb;
  const int64_t free_mb = budget_.free_mb();
  if (!budget_.Fits(need)) {
    if (!may_evict) return false;
    std::vector<std::pair<Slot*, std::shared_ptr<Container>>> owners;
    std::vector<IdleCandidate> idle;
    for (auto& [key, other] : slots_) {
      if (other.get() == &s) continue;
      for (const auto& c : other->idle) {
        owners.emplace_back(other.get(), c);
        idle.push_back({other->fv.memory_mb, c->idle_since});
      }
    }
    std::vector<size_t> victims = PickBudgetVictims(idle, free_mb, need);
    if (victims.empty()) return false;
    for (size_t i : victims) Evict(*owners[i].first, owners[i].second, LeaveReason::kBudget);
  }
  s.places.Take(successor_of);
  budget_.Take(need);
  return true;
}

void Pool::FreePlace(Slot& s, const std::shared_ptr<Container>& c) {
  s.places.Give(c ? std::optional<std::string_view>(c->id()) : std::nullopt);
  budget_.Give(s.fv.memory_mb);
  if (!c) return;
  std::erase(s.members, c);
  std::erase(s.idle, c);
  sink_(RecordOf(s, *c));
}

void Pool::Evict(Slot& s, const std::shared_ptr<Container>& c, LeaveReason why) {
  c->Retire(why);
  FreePlace(s, c);
}

void Pool::ServeWaiters() {
  // Oldest queued request first, among versions that may start another container.
  for (;;) {
    Slot* next = nullptr;
    for (auto& [key, s] : slots_) {
      if (s->waiters.empty() || !s->places.Admits()) continue;
      if (next == nullptr || s->waiters.front().seq < next->waiters.front().seq) next = s.get();
    }
    if (next == nullptr || !ClaimPlace(*next, /*may_evict=*/true)) return;
    next->WakeFront(Slot::Wake::kPlace);
  }
}

// Recycling never costs a request a cold start: a container past recycle_after goes
// at once when another idle one can take its requests; otherwise it keeps serving
// while one successor starts (the ledger's one place beyond the cap, if the cap is
// reached), and goes at the first release after that one is warm. A container whose
// successor cannot have a place yet because another recycle holds the extra one keeps
// serving until its turn; one that cannot have the memory goes now.
void Pool::Recycle(const std::shared_ptr<Slot>& s, const std::shared_ptr<Container>& c) {
  if (c->state() != ContainerState::kWarm) return;
  if (!c->recycle_due && c->invocations() < s->settings.recycle_after) return;
  c->recycle_due = true;
  bool successor_idle = std::any_of(s->idle.begin(), s->idle.end(),
                                    [](const auto& other) { return !other->recycle_due; });
  if (successor_idle) {
    c->Retire(LeaveReason::kRecycled);
    return;
  }
  const bool start_in_flight = std::any_of(s->members.begin(), s->members.end(), [](const auto& other) {
    return other->state() == ContainerState::kStarting;
  }) || s->places.taken() > s->members.size();
  if (start_in_flight) return;  // that one takes over once warm
  if (c->successor_started) {   // its successor is warm (and busy): go now
    c->Retire(LeaveReason::kRecycled);
    return;
  }
  if (ClaimPlace(*s, /*may_evict=*/false, c->id())) {
    c->successor_started = true;
    asio::co_spawn(ex_, StartInBackground(s), asio::detached);
  } else if (s->places.Admits(c->id())) {
    c->Retire(LeaveReason::kRecycled);  // no memory for a successor: go now
  }
}

// A fresh container is warm: the ones waiting for a successor can go.
void Pool::RetireRecycledIdle(Slot& s) {
  for (const auto& c : std::vector<std::shared_ptr<Container>>(s.idle)) {
    if (c->recycle_due) Evict(s, c, LeaveReason::kRecycled);
  }
}

void Pool::Release(const std::shared_ptr<Slot>& s, std::shared_ptr<Container> c) {
  s->last_activity = clock_->Now();
  if (c && c->state() == ContainerState::kDraining) c->Retire(LeaveReason::kSuperseded);
  if (c && !stopping_) Recycle(s, c);
  if (!c || c->state() != ContainerState::kWarm) {
    FreePlace(*s, c);  // died, timed out, recycled, drained, or never started
    if (s->init_failure) s->WakeAll(Slot::Wake::kInitFailed);
    if (!stopping_) {
      ServeWaiters();
      ReconcileSlot(s);  // a recycled or crashed one's replacement starts now
    }
    return;
  }
  if (WantsTemplate(*s, *c)) {  // neither idle nor handed on while it becomes the template
    // Making from here, not from the coroutine: its start is posted, and another
    // container released before it runs must not begin a second template.
    s->snapshot.BeginMaking();
    asio::co_spawn(ex_, MakeTemplate(s, std::move(c)), asio::detached);
    return;
  }
  if (!s->waiters.empty()) {
    if (!c->recycle_due) RetireRecycledIdle(*s);
    s->WakeFront(Slot::Wake::kHanded, std::move(c));
    return;
  }
  if (s->superseded) {
    Evict(*s, c, LeaveReason::kSuperseded);
    ServeWaiters();
    return;
  }
  const bool successor = !c->recycle_due;
  c->idle_since = s->last_activity;
  s->idle.push_back(std::move(c));
  if (successor) RetireRecycledIdle(*s);
  ServeWaiters();  // a version queued on the memory budget may take this one's memory
}

bool Pool::HasRoomForAsync(const FunctionVersion& fv) {
  std::shared_ptr<Slot> s = SlotFor(fv);
  if (s->init_failure) return true;
  if (!s->waiters.empty() || stopping_) return false;
  size_t idle = 0;
  for (const auto& c : s->idle) idle += c->Alive() ? 1 : 0;
  const size_t free_places = s->places.free();
  const size_t room = idle + (budget_.Fits(fv.memory_mb) ? free_places : 0);
  return room >= (s->settings.max_containers > 1 ? 2 : 1);
}

asio::awaitable<std::variant<Acquired, Refusal>> Pool::Acquire(const FunctionVersion& fv,
                                                               std::chrono::steady_clock::time_point deadline,
                                                               const std::function<void()>& admitted) {
  std::shared_ptr<Slot> s = SlotFor(fv);
  const TimePoint t0 = clock_->Now();
  s->last_activity = t0;
  if (s->init_failure) co_return *s->init_failure;

  while (!s->idle.empty()) {
    std::shared_ptr<Container> c = std::move(s->idle.back());
    s->idle.pop_back();
    if (c->Alive()) {
      admitted();
      co_return Acquired{Lease(this, s, std::move(c)), false, 0, "", 0};
    }
    FreePlace(*s, c);  // died while idle
  }
  if (ClaimPlace(*s, /*may_evict=*/true)) {
    admitted();
    co_return co_await StartContainer(s, 0);
  }
  const std::string key = KeyOf(fv);
  if (s->waiters.size() >= s->settings.queue_size) {
    std::string why = !s->places.Admits()
                          ? "all " + std::to_string(s->places.taken()) + " containers of " + key + " are busy"
                          : "the node's memory budget of " + std::to_string(config_.memory_budget_mb) +
                                " MB is taken by busy containers";
    co_return Refusal{RunStatus::kThrottled, 429, "Throttled",
                      why + " and its queue (" + std::to_string(s->settings.queue_size) + ") is full",
                      "", {}};
  }
  admitted();
  asio::steady_timer timer(ex_, deadline);
  Slot::Wake wake = Slot::Wake::kNone;
  std::shared_ptr<Container> handed;
  s->waiters.push_back({&timer, &wake, &handed, next_waiter_++});
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  const double queue_ms = MsBetween(t0, clock_->Now());
  switch (wake) {
    case Slot::Wake::kHanded:
      co_return Acquired{Lease(this, s, std::move(handed)), false, 0, "", queue_ms};
    case Slot::Wake::kPlace:
      co_return co_await StartContainer(s, queue_ms);
    case Slot::Wake::kInitFailed:
      co_return *s->init_failure;
    case Slot::Wake::kStopping:
      co_return Refusal{RunStatus::kCrashed, 503, "Runtime.Stopping", "the daemon is stopping", "", {},
                        false, queue_ms};
    case Slot::Wake::kNone:
      break;
  }
  std::erase_if(s->waiters, [&](const Slot::Waiter& w) { return w.wake == &wake; });
  co_return Refusal{RunStatus::kTimeout, 504, "Runtime.Timeout",
                    "timed out after " + std::to_string(static_cast<int64_t>(queue_ms)) +
                        " ms waiting for a container of " + key,
                    "", {}, false, queue_ms};
}


// A snapshot version's template is taken from a container that has served its first
// request: its module scope ran and so did the first call's lazy work (an
// InferenceSession's first run), which its children then skip. If it is not safe to
// fork, it says why and goes back to serving.
bool Pool::WantsTemplate(const Slot& s, const Container& c) const {
  return s.fv.start.snapshot && s.snapshot.state() == SnapshotTemplate::State::kNone &&
         !s.superseded && !stopping_ && c.invocations() >= 1 && !c.recycle_due && budget_.Fits(s.fv.memory_mb);
}

asio::awaitable<void> Pool::MakeTemplate(std::shared_ptr<Slot> s, std::shared_ptr<Container> c) {
  Exchange verdict = co_await c->Ask(protocol::Encode(protocol::FrameType::kSnapshot, "{}", ""), config_.init_timeout);
  auto answer = verdict.end == Exchange::End::kFrame ? nlohmann::json::parse(verdict.frame.header, nullptr, false)
                                                     : nlohmann::json();
  if (s->snapshot.state() != SnapshotTemplate::State::kMaking) {  // refused meanwhile by the fork-safety check
    Release(s, std::move(c));
    co_return;
  }
  if (!answer.is_object() || !answer.value("ok", false)) {
    s->snapshot.Refuse(answer.is_object() ? answer.value("error", "refused")
                                          : "the container ended at its snapshot: " + verdict.how);
    spdlog::warn("{}: snapshot refused: {}", KeyOf(s->fv), s->snapshot.refusal());
    Release(s, std::move(c));  // back to serving (or gone, if it died)
    co_return;
  }
  // Out of the serving set: its place is free for a container forked from it; its
  // memory stays counted, as the template's.
  std::erase(s->members, c);
  s->places.Give(c->id());
  auto made = std::make_shared<int64_t>(0);
  s->snapshot.Ready(c, std::make_shared<SpareChild>(SpareChild::Config{
                           ex_, config_.blocking, config_.sandbox, sandbox::ForkSourceKind::kTemplate,
                           s->fv.memory_mb, [made, tid = c->id()] {
                             return tid + "." + std::to_string(++*made) + "-" + RandomAlnum(6);
                           }}));
  spdlog::info("{}: container {} (pid {}) is the snapshot template", KeyOf(s->fv), c->id(), c->pid());
  ServeWaiters();
  ReconcileSlot(s);  // min_warm, from the template now
  co_await s->snapshot.spare()->Replenish(c);
}

void Pool::RetireTemplate(Slot& s, LeaveReason why) {
  if (s.snapshot.state() != SnapshotTemplate::State::kReady) return;
  s.snapshot.spare()->Drop();
  std::shared_ptr<Container> gone = s.snapshot.Reset();
  gone->Retire(why);  // its children, in its PID namespace, go with it
  budget_.Give(s.fv.memory_mb);
  sink_(RecordOf(s, *gone));
}

asio::awaitable<std::variant<PrewarmReport, Refusal>> Pool::Prewarm(const FunctionVersion& fv) {
  std::shared_ptr<Slot> s = SlotFor(fv);
  s->aspired = true;
  s->superseded = false;
  s->last_activity = clock_->Now();
  PrewarmReport report;
  // The reconcile pass may start some of them meanwhile (the slot is aspired now):
  // the deploy waits for min_warm warm containers, whoever started them.
  auto warm_now = [&] {
    return static_cast<size_t>(std::count_if(s->members.begin(), s->members.end(), [](const auto& c) {
      return c->state() == ContainerState::kWarm || c->state() == ContainerState::kBusy;
    }));
  };
  const TimePoint deadline = clock_->Now() + config_.init_timeout;
  while (warm_now() < s->settings.min_warm) {
    if (s->init_failure) {  // whoever started it: the deploy reports its init output
      Refusal failure = *s->init_failure;
      failure.logs = s->init_failure_logs;
      co_return failure;
    }
    if (s->places.taken() >= s->settings.min_warm) {  // the rest are starting in the background
      if (clock_->Now() > deadline) break;
      asio::steady_timer tick(ex_, std::chrono::milliseconds(20));
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (!ClaimPlace(*s, /*may_evict=*/true)) {
      report.warnings.push_back("pre-warmed " + std::to_string(warm_now()) + " of " +
                                std::to_string(s->settings.min_warm) + " containers: the node's memory budget of " +
                                std::to_string(config_.memory_budget_mb) + " MB is taken by busy containers");
      break;
    }
    auto got = co_await StartContainer(s, 0);
    if (auto* refusal = std::get_if<Refusal>(&got)) co_return std::move(*refusal);
    Acquired& warm = std::get<Acquired>(got);
    Container& c = warm.lease.container();
    if (report.start.empty()) {
      report.init_ms = warm.init_ms;
      report.rss_mb = static_cast<double>(sandbox::ResidentKb(c.pid()).value_or(0)) / 1024.0;
      report.private_mb = c.ChargedMemoryMb();
      if (report.private_mb) report.shared_mb = std::max(0.0, report.rss_mb - *report.private_mb);
      report.start = warm.start;
      if (!warm.start_note.empty()) report.warnings.push_back(warm.start_note);
    }
  }  // each lease returns its container to the pool: warm and idle
  report.containers = warm_now();
  co_return report;
}

void Pool::SetAspired(const std::vector<FunctionVersion>& versions) {
  std::set<std::string> wanted;
  for (const FunctionVersion& fv : versions) {
    wanted.insert(KeyOf(fv));
    std::shared_ptr<Slot> s = SlotFor(fv);
    if (!s->aspired) s->last_activity = clock_->Now();
    s->aspired = true;
    s->superseded = false;
  }
  for (auto& [key, s] : slots_) {
    if (!s->aspired || wanted.count(key) > 0) continue;
    s->aspired = false;
    s->superseded = true;
    for (const auto& c : s->members) c->Drain();  // busy ones finish, then go
  }
  Reconcile();
}

void Pool::StartReconciling() {
  asio::co_spawn(ex_, [this]() { return ReconcileLoop(); }, asio::detached);
}

asio::awaitable<void> Pool::ReconcileLoop() {
  while (!stopping_) {
    reconcile_timer_.expires_after(config_.reconcile_every);
    boost::system::error_code ec;
    co_await reconcile_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!stopping_) Reconcile();
  }
}

void Pool::Reconcile() {
  std::map<std::string, ZygoteSpec> zygotes;  // the ones versions in use start from
  for (auto it = slots_.begin(); it != slots_.end();) {
    std::shared_ptr<Slot> s = it->second;
    ReconcileSlot(s);
    const bool in_use = s->aspired || s->places.taken() > 0 || !s->waiters.empty();
    if (in_use && s->fv.start.zygote && !stopping_) {
      if (auto spec = SpecOf(*s); spec.ok()) zygotes.emplace((*spec)->zygote.key, (*spec)->zygote);
    }
    bool forgettable = !s->aspired && s->places.taken() == 0 && s->waiters.empty() && !s->init_failure &&
                       s->snapshot.state() != SnapshotTemplate::State::kReady;
    it = forgettable ? slots_.erase(it) : std::next(it);
  }
  if (!stopping_) zygotes_.Keep(zygotes);
  ServeWaiters();
}

void Pool::ReconcileSlot(const std::shared_ptr<Slot>& s) {
  if (stopping_) return;
  std::vector<std::shared_ptr<Container>> idle = s->idle;
  for (const auto& c : idle) {
    if (!c->Alive()) FreePlace(*s, c);  // died while idle
  }
  // A template lives while its version is wanted and its children serve.
  const std::shared_ptr<Container>& tmpl = s->snapshot.container();
  if (tmpl && !tmpl->Alive()) {
    spdlog::warn("{}: the snapshot template died ({})", KeyOf(s->fv), tmpl->exit_how().value_or("ended"));
    RetireTemplate(*s, LeaveReason::kCrashed);
  }
  if (s->snapshot.container() && !s->aspired && s->members.empty()) {
    RetireTemplate(*s, LeaveReason::kSuperseded);
  }
  SlotView view{s->settings, s->aspired, s->superseded, s->init_failure.has_value(), s->last_activity};
  for (const auto& c : s->members) {
    if (c->state() == ContainerState::kBusy || c->state() == ContainerState::kDraining) ++view.busy;
  }
  view.starting = s->places.taken() - s->idle.size() - view.busy;
  view.waiting = s->waiters.size();
  for (const auto& c : s->idle) view.idle_since.push_back(c->idle_since);

  const TimePoint now = clock_->Now();
  Plan plan = PlanSlot(view, now);
  idle = s->idle;
  for (const Eviction& e : plan.evict) Evict(*s, idle[e.index], e.reason);
  if (plan.scaled_to_zero && !plan.evict.empty()) {
    spdlog::info("{}: idle for {} s, scaled to zero", KeyOf(s->fv),
                 std::chrono::duration_cast<std::chrono::seconds>(now - s->last_activity).count());
  }
  if (now < s->no_background_start_before) return;
  for (size_t i = 0; i < plan.start && ClaimPlace(*s, /*may_evict=*/false); ++i) {
    asio::co_spawn(ex_, StartInBackground(s), asio::detached);
  }
}

asio::awaitable<void> Pool::StartInBackground(std::shared_ptr<Slot> s) {
  auto got = co_await StartContainer(s, 0);
  if (auto* refusal = std::get_if<Refusal>(&got)) {
    spdlog::warn("{}: keeping min_warm failed: {}: {}", KeyOf(s->fv), refusal->error_type, refusal->message);
    s->no_background_start_before = clock_->Now() + kBackgroundStartBackoff;
  }
}  // the lease returns the warm container to the pool (or to a queued request)

std::vector<ContainerInfo> Pool::Containers() const {
  const TimePoint now = clock_->Now();
  const int64_t now_ms = NowEpochMs();
  std::vector<ContainerInfo> out;
  for (const auto& [key, s] : slots_) {
    for (const auto& c : s->members) {
      ContainerInfo info{c->id(), s->fv.function, s->fv.version, c->state(), c->pid(), c->invocations(),
                         c->started_at_ms()};
      info.age_s = static_cast<double>(now_ms - c->started_at_ms()) / 1000.0;
      if (std::find(s->idle.begin(), s->idle.end(), c) != s->idle.end()) {
        info.idle_s = MsBetween(c->idle_since, now) / 1000.0;
      }
      if (auto kb = sandbox::ResidentKb(c->pid())) info.rss_mb = static_cast<double>(*kb) / 1024.0;
      info.private_mb = c->ChargedMemoryMb();
      if (info.rss_mb && info.private_mb) info.shared_mb = std::max(0.0, *info.rss_mb - *info.private_mb);
      info.memory_mb = s->fv.memory_mb;
      info.init_ms = c->init_ms;
      info.start = c->start;
      out.push_back(std::move(info));
    }
  }
  return out;
}

std::vector<ForkSourceInfo> Pool::ForkSources() const {
  std::vector<ForkSourceInfo> out = zygotes_.List();
  for (const auto& [key, s] : slots_) {
    const std::shared_ptr<Container>& t = s->snapshot.container();
    if (!t) continue;
    ForkSourceInfo info;
    info.id = t->id();
    info.kind = "snapshot";
    info.function = s->fv.function;
    info.version = s->fv.version;
    for (const LayerRef& l : s->fv.layers) info.layers.push_back(l.name + ":" + std::to_string(l.version));
    info.pid = t->pid();
    info.state = "ready";
    if (auto kb = sandbox::ResidentKb(t->pid())) info.rss_mb = static_cast<double>(*kb) / 1024.0;
    info.forks = s->snapshot.forks();
    info.started_at_ms = t->started_at_ms();
    if (const sandbox::WorkerProcess* spare = s->snapshot.spare()->spare()) {
      info.spare_id = spare->id;
      info.spare_pid = spare->pid;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Status Pool::Stop(const std::string& container_id) {
  for (auto& [key, s] : slots_) {
    for (const auto& c : s->members) {
      if (c->id() != container_id) continue;
      if (std::find(s->idle.begin(), s->idle.end(), c) == s->idle.end()) {
        return Conflict("container " + container_id + " is " + ContainerStateName(c->state()) +
                                  ": it can be stopped when it is idle");
      }
      Evict(*s, std::shared_ptr<Container>(c), LeaveReason::kStopped);
      ServeWaiters();
      return OkStatus();
    }
  }
  return NotFound("no live container " + container_id);
}

void Pool::Shutdown() {
  if (stopping_) return;
  stopping_ = true;
  reconcile_timer_.cancel();
  for (auto& [key, s] : slots_) {
    s->WakeAll(Slot::Wake::kStopping);
    for (const auto& c : std::vector<std::shared_ptr<Container>>(s->idle)) Evict(*s, c, LeaveReason::kShutdown);
    // Busy ones: killed now, their places freed when their requests end (as crashed).
    for (const auto& c : s->members) c->Retire(LeaveReason::kShutdown);
    RetireTemplate(*s, LeaveReason::kShutdown);
  }
  zygotes_.Shutdown();
}

}  // namespace kiln::pool
