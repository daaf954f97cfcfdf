#include "pool/pool.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/crypto.h"

namespace kiln::pool {

// One function version's container and the requests waiting for it.
struct Slot {
  std::shared_ptr<Container> container;  // null or gone: the next request starts one
  bool busy = false;
  std::optional<Refusal> init_failure;  // remembered deterministic init failure
  struct Waiter {
    asio::steady_timer* timer;
    bool* granted;
  };
  std::deque<Waiter> waiters;
};

Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_);
}

Pool::Pool(asio::any_io_executor ex, PoolConfig config, InitHeaderFn init_header)
    : ex_(std::move(ex)), config_(std::move(config)), init_header_(std::move(init_header)) {}

Pool::~Pool() { Shutdown(); }

void Pool::Shutdown() {
  for (auto& [key, slot] : slots_) {
    if (slot->container) slot->container->Retire();
  }
}

void Pool::Release(const std::shared_ptr<Slot>& slot) {
  if (!slot->waiters.empty()) {
    // Hand the slot over directly: it stays busy, FIFO order is kept.
    Slot::Waiter w = slot->waiters.front();
    slot->waiters.pop_front();
    *w.granted = true;
    w.timer->cancel();
    return;
  }
  slot->busy = false;
}

asio::awaitable<std::variant<Acquired, Refusal>> Pool::Acquire(
    const FunctionVersion& fv, std::chrono::steady_clock::time_point deadline) {
  std::string key = fv.function + ":" + std::to_string(fv.version);
  auto& slot = slots_[key];
  if (!slot) slot = std::make_shared<Slot>();
  std::shared_ptr<Slot> s = slot;
  if (s->init_failure) co_return *s->init_failure;

  if (s->busy) {
    if (s->waiters.size() >= config_.queue_size) {
      co_return Refusal{RunStatus::kThrottled, 429, "Throttled",
                        "all containers of " + key + " are busy and its queue is full", "", {}};
    }
    asio::steady_timer timer(ex_, deadline);
    bool granted = false;
    s->waiters.push_back({&timer, &granted});
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!granted) {
      std::erase_if(s->waiters, [&](const Slot::Waiter& w) { return w.granted == &granted; });
      co_return Refusal{RunStatus::kTimeout, 504, "Runtime.Timeout",
                        "timed out waiting for a container of " + key, "", {}};
    }
  }
  s->busy = true;
  if (s->init_failure) {  // decided while this request waited
    Release(s);
    co_return *s->init_failure;
  }
  if (s->container && s->container->Alive() && s->container->state() == ContainerState::kWarm) {
    co_return Acquired{Lease(this, s, s->container), false, 0, ""};
  }
  co_return co_await StartContainer(fv, s, deadline);
}

asio::awaitable<std::variant<Acquired, Refusal>> Pool::StartContainer(
    const FunctionVersion& fv, const std::shared_ptr<Slot>& s,
    std::chrono::steady_clock::time_point deadline) {
  // The slot is ours (busy): every refusal hands it on to the next waiter.
  auto refuse = [&](Refusal r) {
    Release(s);
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
  s->container = c;

  // The init phase has its own budget; the request's deadline does not cut it short
  // (Lambda does the same), so a slow model load still warms the container.
  (void)deadline;
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
