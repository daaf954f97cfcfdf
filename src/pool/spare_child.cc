#include "pool/spare_child.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace kiln::pool {

namespace {
constexpr std::chrono::seconds kSpareWait{5};
}  // namespace

asio::awaitable<void> SpareChild::Replenish(std::shared_ptr<Container> source) {
  if (replenishing_ || spare_ || !source || !source->Alive()) co_return;
  auto self = shared_from_this();
  replenishing_ = true;
  auto pending = sandbox::ForkPending(source->channel_fd(), source->pid(), config_.kind, config_.next_id(),
                                      config_.memory_mb, config_.sandbox);
  Status made = pending.status();
  if (pending.ok()) {
    made = co_await asio::co_spawn(
        config_.blocking, [&]() -> asio::awaitable<Status> { co_return sandbox::AttachPending(*pending); },
        asio::use_awaitable);
  }
  if (made.ok()) {
    spare_ = std::move(pending).value();
  } else {
    spdlog::warn("no spare child forked from {}: {}", source->id(), made.message());
  }
  replenishing_ = false;
  for (asio::steady_timer* t : std::exchange(waiters_, {})) t->cancel();
}

asio::awaitable<Result<sandbox::WorkerProcess>> SpareChild::Fork(std::shared_ptr<Container> source,
                                                                const sandbox::SpawnSpec& child) {
  const auto began = std::chrono::steady_clock::now();
  auto self = shared_from_this();
  if (replenishing_) {  // the source's channel is busy making the spare: that spare is this start's
    asio::steady_timer wait(config_.io, kSpareWait);
    waiters_.push_back(&wait);
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::erase(waiters_, &wait);
    if (replenishing_) co_return Internal("making a spare child took over 5 s");
  }
  Result<sandbox::WorkerProcess> forked = Internal("no spare child");
  if (spare_) {
    sandbox::PendingWorker spare = std::move(*spare_);
    spare_.reset();
    forked = sandbox::Launch(std::move(spare), child.binds, child.memory_mb, config_.sandbox);
    if (!forked.ok()) spdlog::warn("a spare child of {} could not start: {}", source->id(), forked.status().message());
  }
  if (!forked.ok()) {
    forked = sandbox::ForkWorker(source->channel_fd(), source->pid(), config_.kind, child, config_.sandbox);
  }
  if (forked.ok()) {
    // The fork phase is all but the containment: a spare's fork happened beforehand,
    // so it is what this start waited for it (or for a fork of its own).
    forked->phases.fork_ms = sandbox::MsSince(began) - forked->phases.sandbox_ms;
    asio::co_spawn(config_.io, [self, source]() { return self->Replenish(source); }, asio::detached);
  }
  co_return forked;
}

}  // namespace kiln::pool
