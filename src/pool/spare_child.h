// DESIGN: one forked child kept ready beside a fork source (a layer zygote or a
// snapshot template; sandbox/fork_server.h): forked, in its own cgroup, waiting for
// its launch. A cold start launches it instead of forking then, so it does not wait
// for the fork or for the move into the cgroup, which on cgroup v1 can wait for an
// RCU grace period (about 10 ms after a quiet spell). After each use a new spare is
// forked in the background; a start that comes while that is under way waits for it
// (the source serves one FORK at a time, so its channel carries one at a time).
// Threading: called on the daemon's I/O thread, which never waits on the child or the
// source: the fork, the cgroup move and the launch (the child's setup report) run on
// the blocking pool, and the I/O thread awaits them. A child cloned there has that
// pool thread as its parent thread for PR_SET_PDEATHSIG; the pool's threads live as
// long as the daemon.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pool/container.h"
#include "sandbox/fork_server.h"

namespace kiln::pool {

class SpareChild : public std::enable_shared_from_this<SpareChild> {
 public:
  struct Config {
    asio::any_io_executor io, blocking;
    const sandbox::Sandbox* sandbox = nullptr;
    sandbox::ForkSourceKind kind = sandbox::ForkSourceKind::kZygote;
    int64_t memory_mb = 256;                 // the spare's limit until its launch sets the container's
    std::function<std::string()> next_id;    // a container id for each spare
  };
  explicit SpareChild(Config config) : config_(std::move(config)) {}

  // A container forked from `source`: the spare, launched with `child`'s binds and
  // limit, or a fork made now. Then a new spare is made in the background. The
  // worker's id is the spare's when it was one.
  asio::awaitable<Result<sandbox::WorkerProcess>> Fork(std::shared_ptr<Container> source,
                                                       const sandbox::SpawnSpec& child);
  // Makes the spare if there is none (after the source is ready).
  asio::awaitable<void> Replenish(std::shared_ptr<Container> source);
  // Kills the spare (the source goes).
  void Drop() { spare_.reset(); }
  // The spare waiting for its launch, if any: its id and pid.
  const sandbox::WorkerProcess* spare() const { return spare_ ? &spare_->process : nullptr; }

 private:
  Config config_;
  // Until the source's channel is free (or, with `or_spare`, a spare is there to
  // launch), at most 5 s at a time.
  asio::awaitable<Status> AwaitChannel(bool or_spare);
  // The source's channel is free again: starts waiting for it go on.
  void ChannelFree();

  std::optional<sandbox::PendingWorker> spare_;
  bool channel_busy_ = false;  // a FORK is on the source's channel (a spare, or a start's own)
  std::vector<asio::steady_timer*> waiters_;
};

}  // namespace kiln::pool
