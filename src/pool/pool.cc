#include "pool/pool.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/crypto.h"

namespace kiln::pool {

// One function version's containers and the requests waiting for one.
struct Slot {
  std::vector<std::shared_ptr<Container>> idle;  // most recently used last
  std::vector<std::weak_ptr<Container>> all;     // for shutdown: busy ones too
  size_t live = 0;                               // idle + busy + starting
  std::optional<Refusal> init_failure;           // remembered deterministic init failure
  // A waiter is woken with a container, or with none: then it may start one.
  struct Waiter {
    asio::steady_timer* timer;
    bool* woken;
    std::shared_ptr<Container>* handed;
  };
  std::deque<Waiter> waiters;
};

Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_, std::move(container_));
}

Pool::Pool(asio::any_io_executor ex, PoolConfig config, InitHeaderFn init_header)
    : ex_(std::move(ex)), config_(std::move(config)), init_header_(std::move(init_header)) {}

Pool::~Pool() { Shutdown(); }

void Pool::Shutdown() {
  for (auto& [key, slot] : slots_) {
    for (auto& weak : slot->all) {
      if (auto c = weak.lock()) c->Retire();  // a request in flight ends as crashed
    }
  }
}

void Pool::Release(const std::shared_ptr<Slot>& s, std::shared_ptr<Container> c) {
  bool usable = c && c->state() == ContainerState::kWarm;
  if (!usable) --s->live;  // died, timed out, or never started: its place is free
  if (s->waiters.empty()) {
    if (usable) s->idle.push_back(std::move(c));
    return;
  }
  if (!usable && s->init_failure) {
    // Everyone waiting would get the same answer: wake them all to hear it.
    for (auto& w : std::exchange(s->waiters, {})) {
      *w.woken = true;
      w.timer->cancel();
    }
    return;
  }
  // FIFO: the first waiter gets this container, or this container's place.
  Slot::Waiter w = s->waiters.front();
  s->waiters.pop_front();
  if (usable) {
    *w.handed = std::move(c);
  } else {
    ++s->live;  // the waiter starts a new one in the freed place
  }
  *w.woken = true;
  w.timer->cancel();
}

asio::awaitable<std::variant<Acquired, Refusal>> Pool::Acquire(
    const FunctionVersion& fv, std::chrono::steady_clock::time_point deadline) {
  std::string key = fv.function + ":" + std::to_string(fv.version);
  auto& slot = slots_[key];
  if (!slot) slot = std::make_shared<Slot>();
  std::shared_ptr<Slot> s = slot;
  if (s->init_failure) co_return *s->init_failure;

  while (!s->idle.empty()) {
    std::shared_ptr<Container> c = std::move(s->idle.back());
    s->idle.pop_back();
    if (c->Alive()) co_return Acquired{Lease(this, s, std::move(c)), false, 0, ""};
    --s->live;  // died while idle
  }
  if (s->live < config_.max_containers) {
    ++s->live;
    co_return co_await StartContainer(fv, s);
  }
  if (s->waiters.size() >= config_.queue_size) {
    co_return Refusal{RunStatus::kThrottled, 429, "Throttled",
                      "all " + std::to_string(s->live) + " containers of " + key +
                          " are busy and its queue is full",
                      "", {}};
  }
  asio::steady_timer timer(ex_, deadline);
  bool woken = false;
  std::shared_ptr<Container> handed;
  s->waiters.push_back({&timer, &woken, &handed});
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!woken) {
    std::erase_if(s->waiters, [&](const Slot::Waiter& w) { return w.woken == &woken; });
    co_return Refusal{RunStatus::kTimeout, 504, "Runtime.Timeout",
                      "timed out waiting for a container of " + key, "", {}};
  }
  if (handed) co_return Acquired{Lease(this, s, std::move(handed)), false, 0, ""};
  if (s->init_failure) co_return *s->init_failure;
  co_return co_await StartContainer(fv, s);  // Release counted our place in `live`
}

asio::awaitable<std::variant<Acquired, Refusal>> Pool::StartContainer(
    const FunctionVersion& fv, const std::shared_ptr<Slot>& s) {
  // The caller counted this container in `live`: every refusal gives the place back.
  auto refuse = [&](Refusal r) {
    Release(s, nullptr);
    return r;
  };
  auto header = init_header_(fv);
  if (!header.ok()) {
    co_return refuse({RunStatus::kError, 502, "Runtime.InitError", header.status().message(), "", {}});
  }
  sandbox::SpawnSpec spec{config_.worker_path, config_.worker_env};
  auto started = Container::Start(ex_, spec, "c-" + std::to_string(next_container_++) + "-" +
                                                 RandomAlnum(6));
  if (!started.ok()) {
    co_return refuse({RunStatus::kCrashed, 502, "Runtime.StartError", started.status().message(), "", {}});
  }
  std::shared_ptr<Container> c = std::move(started).value();
  std::erase_if(s->all, [](const std::weak_ptr<Container>& w) { return w.expired(); });
  s->all.push_back(c);

  // The init phase has its own budget; the request's deadline does not cut it short
  // (Lambda does the same), so a slow model load still warms the container.
  Exchange done = co_await c->Initialize(*header, config_.init_timeout);
  std::string logs = c->TakeLogs();
  if (done.end != Exchange::End::kFrame) {
    bool timeout = done.end == Exchange::End::kTimeout;
    co_return refuse({timeout ? RunStatus::kTimeout : RunStatus::kCrashed, timeout ? 504 : 502,
                      timeout ? "Runtime.InitTimeout" : "Runtime.InitCrashed",
                      "the container's init phase " +
                          (timeout ? "ran past " + std::to_string(config_.init_timeout.count()) + " ms"
                                   : "ended: " + done.how),
                      logs, {}, true});
  }
  auto result = nlohmann::json::parse(done.frame.header, nullptr, false);
  if (result.is_discarded() || !result.value("ok", false)) {
    c->Retire();
    Refusal failure{RunStatus::kError, 502,
                    result.is_discarded() ? "Runtime.InitError" : result.value("errorType", "Runtime.InitError"),
                    result.is_discarded() ? "malformed INIT_DONE" : result.value("errorMessage", ""),
                    "", {}, true};
    s->init_failure = failure;  // later requests: the same error, no re-import
    failure.logs = logs;
    co_return refuse(failure);
  }
  double init_ms = result.value("init_ms", 0.0);
  co_return Acquired{Lease(this, s, c), true, init_ms, logs};
}

}  // namespace kiln::pool
