#include "pool/spare_child.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/time_util.h"
#include "pool/blocking_call.h"

namespace kiln::pool {

namespace {
constexpr std::chrono::seconds kSpareWait{5};
}  // namespace

asio::awaitable<void> SpareChild::Replenish(std::shared_ptr<Container> source) {
  if (channel_busy_ || spare_ || !source || !source->Alive()) co_return;
  auto self = shared_from_this();
  channel_busy_ = true;
  const int channel = source->channel_fd();
  const pid_t source_pid = source->pid();
  const std::string id = config_.next_id();
  Result<sandbox::PendingWorker> pending = co_await OnBlockingPool(config_.blocking, [&]() -> Result<sandbox::PendingWorker> {
    auto forked = sandbox::ForkPending(channel, source_pid, config_.kind, id, config_.memory_mb, config_.sandbox);
    if (forked.ok()) {
      if (Status attached = sandbox::AttachPending(*forked); !attached.ok()) return attached;
    }
    return forked;
  });
  if (pending.ok()) {
    spare_ = std::move(pending).value();
  } else {
    spdlog::warn("no spare child forked from {}: {}", source->id(), pending.status().message());
  }
  ChannelFree();
}

asio::awaitable<Status> SpareChild::AwaitChannel(bool or_spare) {
  while (channel_busy_ && !(or_spare && spare_)) {
    asio::steady_timer wait(config_.io, kSpareWait);
    waiters_.push_back(&wait);
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::erase(waiters_, &wait);
    if (!ec) co_return Internal("the fork source's channel was busy for over 5 s");
  }
  co_return OkStatus();
}

void SpareChild::ChannelFree() {
  channel_busy_ = false;
  for (asio::steady_timer* t : std::exchange(waiters_, {})) t->cancel();
}

asio::awaitable<Result<sandbox::WorkerProcess>> SpareChild::Fork(std::shared_ptr<Container> source,
                                                                const sandbox::SpawnSpec& child) {
  const auto began = std::chrono::steady_clock::now();
  auto self = shared_from_this();
  // A spare being made is this start's; a fork under way, the next one's.
  if (Status free = co_await AwaitChannel(/*or_spare=*/true); !free.ok()) co_return free;
  Result<sandbox::WorkerProcess> forked = Internal("no spare child");
  if (spare_) {
    sandbox::PendingWorker spare = std::move(*spare_);
    spare_.reset();
    forked = co_await OnBlockingPool(config_.blocking, [&] {
      return sandbox::Launch(std::move(spare), child.binds, child.memory_mb, config_.sandbox);
    });
    if (!forked.ok()) spdlog::warn("a spare child of {} could not start: {}", source->id(), forked.status().message());
  }
  if (!forked.ok()) {
    // Another start may have taken the channel while this one launched its spare.
    if (Status free = co_await AwaitChannel(/*or_spare=*/false); !free.ok()) co_return free;
    channel_busy_ = true;
    const int channel = source->channel_fd();
    const pid_t source_pid = source->pid();
    forked = co_await OnBlockingPool(config_.blocking, [&] {
      return sandbox::ForkWorker(channel, source_pid, config_.kind, child, config_.sandbox);
    });
    ChannelFree();
  }
  if (forked.ok()) {
    // The fork phase is all but the containment: a spare's fork happened beforehand,
    // so it is what this start waited for it (or for a fork of its own).
    forked->phases.fork_ms = MsSince(began) - forked->phases.sandbox_ms;
    asio::co_spawn(config_.io, [self, source]() { return self->Replenish(source); }, asio::detached);
  }
  co_return forked;
}

}  // namespace kiln::pool
