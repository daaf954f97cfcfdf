#include "pool/zygotes.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/time_util.h"
#include "pool/spare_child.h"
#include "sandbox/fork_server.h"
#include "sandbox/process_stats.h"

namespace kiln::pool {

struct Zygotes::Zygote {
  enum class State { kStarting, kReady, kBroken };
  ZygoteSpec spec;
  std::string id;
  std::shared_ptr<Container> process;
  State state = State::kStarting;
  std::string message;  // why it is broken
  std::vector<std::string> preloaded;
  int64_t forks = 0;
  int64_t started_at_ms = 0;
  std::vector<asio::steady_timer*> waiters;  // requests waiting for its start
  std::shared_ptr<SpareChild> spare;

  void Settle(State s, std::string why = "") {
    state = s;
    message = std::move(why);
    for (asio::steady_timer* t : std::exchange(waiters, {})) t->cancel();
  }
};

namespace {

const char* StateName(int s) {
  static constexpr const char* kNames[] = {"starting", "ready", "broken"};
  return kNames[s];
}

std::string Describe(const ZygoteSpec& z) {
  std::string layers;
  for (const auto& l : z.layers) layers += (layers.empty() ? "" : ", ") + l;
  return "the zygote of layers [" + layers + "]";
}

}  // namespace

void Zygotes::Launch(const std::shared_ptr<Zygote>& z) {
  z->id = "z-" + std::to_string(next_id_++);
  z->started_at_ms = NowEpochMs();
  z->forks = 0;
  z->preloaded.clear();
  z->state = Zygote::State::kStarting;
  if (!z->spare) {
    auto made = std::make_shared<int64_t>(0);
    z->spare = std::make_shared<SpareChild>(SpareChild::Config{
        ex_, config_.blocking, config_.sandbox, sandbox::ForkSourceKind::kZygote, config_.memory_mb,
        [made, zid = z->id] { return "c-" + zid + "." + std::to_string(++*made) + "-" + RandomAlnum(6); }});
  }
  sandbox::SpawnSpec spec{config_.worker_path, z->spec.env, z->id, config_.memory_mb, z->spec.binds,
                          sandbox::WorkerRole::kZygote};
  z->process.reset();
  asio::co_spawn(ex_, Start(z, std::move(spec)), asio::detached);
}

asio::awaitable<void> Zygotes::Start(std::shared_ptr<Zygote> z, sandbox::SpawnSpec spec) {
  const std::string id = z->id;
  auto started = co_await Container::Spawn(ex_, config_.blocking, spec, config_.sandbox);
  if (z->id != id || z->state != Zygote::State::kStarting) {  // dropped or stopped meanwhile
    if (started.ok()) (*started)->Retire(LeaveReason::kSuperseded);
    co_return;
  }
  if (!started.ok()) {
    z->Settle(Zygote::State::kBroken, "could not start: " + started.status().message());
    co_return;
  }
  z->process = std::move(started).value();
  std::shared_ptr<Container> p = z->process;
  Exchange hello = co_await p->Ask(std::nullopt, config_.start_timeout);
  Exchange done = hello;
  if (hello.end == Exchange::End::kFrame) {
    done = co_await p->Ask(protocol::Encode(protocol::FrameType::kPreload, z->spec.preload_header, ""),
                           config_.start_timeout);
  }
  if (z->process != p) co_return;  // dropped meanwhile
  std::string logs = p->TakeLogs();
  if (done.end != Exchange::End::kFrame) {
    p->Retire(LeaveReason::kCrashed);
    z->Settle(Zygote::State::kBroken, "it ended while importing: " + done.how + (logs.empty() ? "" : ": " + logs));
    spdlog::warn("{} ({}) is broken: {}", Describe(z->spec), z->id, z->message);
    co_return;
  }
  auto answer = nlohmann::json::parse(done.frame.header, nullptr, false);
  if (!answer.is_object() || !answer.value("ok", false)) {
    p->Retire(LeaveReason::kInitFailed);
    z->Settle(Zygote::State::kBroken, answer.is_object() ? answer.value("error", "") : "malformed PRELOAD_DONE");
    spdlog::warn("{} ({}) is broken: {}", Describe(z->spec), z->id, z->message);
    co_return;
  }
  double total_ms = 0;
  for (const auto& m : answer.value("modules", nlohmann::json::array())) {
    z->preloaded.push_back(m.value("module", ""));
    total_ms += m.value("import_ms", 0.0);
  }
  spdlog::info("{} ({}, pid {}) is ready: {} modules imported in {:.0f} ms", Describe(z->spec), z->id, p->pid(),
               z->preloaded.size(), total_ms);
  z->Settle(Zygote::State::kReady);
  co_await z->spare->Replenish(p);
}

asio::awaitable<Result<sandbox::WorkerProcess>> Zygotes::Fork(const ZygoteSpec& zygote,
                                                             const sandbox::SpawnSpec& child, int64_t free_mb) {
  std::shared_ptr<Zygote>& slot = zygotes_[zygote.key];
  if (!slot) {
    if (free_mb < config_.memory_mb) {
      zygotes_.erase(zygote.key);
      co_return Internal("no room in the node's memory budget for " + Describe(zygote) + " (" +
                        std::to_string(config_.memory_mb) + " MB)");
    }
    slot = std::make_shared<Zygote>();
    slot->spec = zygote;
    Launch(slot);
  }
  std::shared_ptr<Zygote> z = slot;
  if (z->state == Zygote::State::kReady && !z->process->Alive()) {
    // Restarted in the background; this start does not wait for it, but the spare
    // forked before the death can still serve it.
    std::shared_ptr<Container> dead = z->process;
    Launch(z);
    auto forked = co_await z->spare->Fork(dead, child);
    if (forked.ok()) co_return std::move(forked).value();
    co_return Internal(Describe(zygote) + " died (" + dead->exit_how().value_or("ended") + "); it is restarting");
  }
  if (z->state == Zygote::State::kStarting) {
    asio::steady_timer wait(ex_, config_.start_timeout);
    z->waiters.push_back(&wait);
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::erase(z->waiters, &wait);
    if (z->state == Zygote::State::kStarting) co_return Internal(Describe(zygote) + " is still starting");
  }
  if (z->state == Zygote::State::kBroken) co_return Internal(Describe(zygote) + " is broken: " + z->message);
  auto forked = co_await z->spare->Fork(z->process, child);
  if (!forked.ok()) {
    if (!z->process->Alive()) Launch(z);
    co_return Internal(Describe(zygote) + " could not fork: " + forked.status().message());
  }
  ++z->forks;
  co_return std::move(forked).value();
}

void Zygotes::Keep(const std::map<std::string, ZygoteSpec>& wanted) {
  for (auto it = zygotes_.begin(); it != zygotes_.end();) {
    std::shared_ptr<Zygote> z = it->second;
    if (wanted.count(it->first) == 0) {
      if (z->spare) z->spare->Drop();
      if (z->process) z->process->Retire(LeaveReason::kSuperseded);
      z->Settle(Zygote::State::kBroken, "no longer used");
      it = zygotes_.erase(it);
      continue;
    }
    if (z->state == Zygote::State::kReady && !z->process->Alive()) {
      spdlog::warn("{} ({}) died ({}): restarting it", Describe(z->spec), z->id,
                   z->process->exit_how().value_or("ended"));
      Launch(z);
    }
    ++it;
  }
}

int64_t Zygotes::reserved_mb() const {
  int64_t n = 0;
  for (const auto& [key, z] : zygotes_) {
    if (z->state != Zygote::State::kBroken) ++n;
  }
  return n * config_.memory_mb;
}

std::vector<ForkSourceInfo> Zygotes::List() const {
  std::vector<ForkSourceInfo> out;
  for (const auto& [key, z] : zygotes_) {
    ForkSourceInfo info;
    info.id = z->id;
    info.kind = "layers";
    info.layers = z->spec.layers;
    info.state = StateName(static_cast<int>(z->state));
    info.preloaded = z->preloaded;
    info.forks = z->forks;
    info.started_at_ms = z->started_at_ms;
    info.message = z->message;
    if (const sandbox::WorkerProcess* spare = z->spare ? z->spare->spare() : nullptr) {
      info.spare_id = spare->id;
      info.spare_pid = spare->pid;
    }
    if (z->process && z->state != Zygote::State::kBroken) {
      info.pid = z->process->pid();
      if (auto kb = sandbox::ResidentKb(info.pid)) info.rss_mb = static_cast<double>(*kb) / 1024.0;
    }
    out.push_back(std::move(info));
  }
  return out;
}

void Zygotes::Shutdown() {
  for (auto& [key, z] : zygotes_) {
    if (z->spare) z->spare->Drop();
    if (z->process) z->process->Retire(LeaveReason::kShutdown);
    z->Settle(Zygote::State::kBroken, "the daemon is stopping");
  }
  zygotes_.clear();
}

}  // namespace kiln::pool
