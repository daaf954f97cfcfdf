// DESIGN: one container = one worker process serving one function version, driven
// from the daemon's I/O thread (no locks: all members are touched on that thread).
//
// Lifecycle, checked in one place (Transition):
//   starting -> warm          init succeeded
//   warm -> busy -> warm      one invocation at a time
//   busy -> draining          its version was superseded: it finishes this request,
//                             then goes (the pool retires it on release)
//   any -> gone               evicted, recycled, init failed, timeout, crash, shutdown
// The reason a container left is kept with it (LeaveReason) for its record.
// A timeout is enforced by killing the process group when the deadline passes; the
// pending read then ends, and the outcome says timeout, not crash. A worker that
// dies while its cgroup reports an OOM kill ended as oom.
//
// Exits (issue #16: the I/O thread never waits on another process): the worker's
// pidfd is watched by the event loop from the container's start (WatchExit). Retire
// only sends SIGKILL; the watch reaps the worker once it has exited (waitpid WNOHANG,
// which cannot wait then) and records how it ended, and an exchange that needs to
// say how (a crash's message) awaits that (AwaitExit). A worker that dies on its own
// while idle is gone as soon as the watch sees it; Alive() also asks the pidfd and
// the channel directly (one poll of both), so a request never takes a container
// that died a moment ago. The watch holds the container until its worker is reaped,
// so its cgroup is removed only once it is empty; the destructor reaps (blocking)
// only at shutdown, when the event loop that would have is gone.
//
// Leftovers: when the init phase or a run ends, every process of the container but its
// worker is killed (sandbox/leftovers.h), and the run's logs say how many.
//
// Logs: the worker's stdout/stderr pipe is read continuously into the current run's
// buffer (capped; the rest is dropped with a marker line). When a result arrives,
// whatever is still in the pipe is drained first: it was written before the result.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pool/reconcile_policy.h"
#include "runtime/protocol.h"
#include "sandbox/leftovers.h"
#include "sandbox/worker_spawner.h"

namespace kiln::pool {

namespace asio = boost::asio;

enum class ContainerState { kStarting, kWarm, kBusy, kDraining, kGone };
const char* ContainerStateName(ContainerState s);

// How one exchange with the worker ended.
struct Exchange {
  enum class End { kFrame, kTimeout, kCrashed, kOom };
  End end = End::kFrame;
  protocol::Frame frame;  // when kFrame
  std::string how;        // otherwise: how the process ended
};

class Container : public std::enable_shared_from_this<Container> {
 public:
  static constexpr size_t kMaxLogBytes = 256 * 1024;

  // A fresh worker, spawned on `blocking` (the clone and the wait for its setup report
  // never hold the I/O thread), adopted on `ex`. `sandbox` may be null (a plain child
  // process).
  static asio::awaitable<Result<std::shared_ptr<Container>>> Spawn(asio::any_io_executor ex,
                                                                   asio::any_io_executor blocking,
                                                                   const sandbox::SpawnSpec& spec,
                                                                   const sandbox::Sandbox* sandbox);

  // A worker forked from a zygote or a template (fork_server.h).
  static Result<std::shared_ptr<Container>> Adopt(asio::any_io_executor ex, sandbox::WorkerProcess w,
                                                  std::string id, int64_t memory_mb);
  ~Container();

  // HELLO, then INIT; returns the INIT_DONE frame.
  asio::awaitable<Exchange> Initialize(std::string init_header,
                                       std::chrono::steady_clock::duration budget);
  // The HELLO of a template's child: warm once it says so.
  asio::awaitable<Exchange> AwaitRestore(std::chrono::steady_clock::duration budget);
  // One request frame and its answer, outside the container's own conversation
  // (a zygote's HELLO and PRELOAD, a SNAPSHOT).
  asio::awaitable<Exchange> Ask(std::optional<std::string> request, std::chrono::steady_clock::duration budget);
  // The channel, for a blocking exchange (a FORK) while no Ask is pending.
  int channel_fd() { return channel_.native_handle(); }
  asio::awaitable<Exchange> Invoke(std::string header, std::string event,
                                   std::chrono::steady_clock::duration budget);

  // Logs captured since the last call, with the cap applied.
  std::string TakeLogs();
  // Also hands every piece of output to `tap` as it is read, until cleared (a run's
  // live output: runs/log_stream.h).
  void SetLogTap(std::function<void(std::string_view)> tap) { log_tap_ = std::move(tap); }
  void Retire(LeaveReason why);  // SIGKILL now; reaped when its exit is seen
  // False once the worker is gone, also when it died while idle (then it is reaped
  // here, so a dead container is never leased).
  bool Alive();
  // A busy container finishes its request, then goes.
  void Drain();

  const std::string& id() const { return id_; }
  pid_t pid() const { return pid_; }
  ContainerState state() const { return state_; }
  int64_t invocations() const { return invocations_; }
  int64_t memory_mb() const { return memory_mb_; }
  // The cgroup's peak (the container's whole life), where cgroups are active.
  std::optional<double> PeakMemoryMb() const;
  // What its cgroup is charged now: its private memory (docs/API.md, memory).
  std::optional<double> ChargedMemoryMb() const;
  int64_t started_at_ms() const { return started_at_ms_; }
  // How its start went before the worker ran (the fork and sandbox phases).
  const sandbox::StartPhases& start_phases() const { return start_phases_; }
  // Why it left (once gone) and how its process ended (once reaped).
  LeaveReason leave_reason() const { return leave_reason_; }
  const std::optional<std::string>& exit_how() const { return exit_how_; }
  // Whether Kiln has sent its worker SIGKILL.
  bool killed() const { return killed_; }

  // Bookkeeping the pool keeps with the container.
  std::optional<double> init_ms;
  std::string start;  // how it started: plain, zygote or snapshot
  std::chrono::steady_clock::time_point idle_since;
  bool recycle_due = false;  // served its share; goes once a successor is warm
  bool successor_started = false;  // its recycle started a successor

 private:
  Container(asio::any_io_executor ex, sandbox::WorkerProcess w, UniqueFd pidfd, bool reaps, std::string id,
            int64_t memory_mb);
  void Transition(ContainerState to);
  // SIGKILL to its process group and to it (through the pidfd); its exit is seen by WatchExit.
  void Kill();
  asio::awaitable<void> WatchExit();
  // Whether the worker has exited (not yet reaped): its pidfd, else waitid(WNOWAIT).
  bool HasExited();
  // Its worker has exited: reap it (once), and if nothing retired it, it crashed.
  void Exited();
  // Resumes once the worker has exited and been reaped.
  asio::awaitable<void> AwaitExit();
  asio::awaitable<Exchange> Exchange1(std::optional<std::string> request,
                                      std::chrono::steady_clock::duration budget);
  asio::awaitable<Result<std::optional<protocol::Frame>>> ReadFrame();
  asio::awaitable<void> PumpLogs();
  void AppendLogs(const char* data, size_t n);
  // Kills what the handler left running when a run or the init phase ends
  // (sandbox/leftovers.h), and says so in the logs.
  void EndLeftovers();
  bool DrainLogs();  // false once the pipe is closed or at its end

  std::string id_;
  pid_t pid_;
  int64_t started_at_ms_;
  sandbox::StartPhases start_phases_;
  int64_t memory_mb_;
  std::unique_ptr<sandbox::ContainerCgroup> cgroup_;  // destroyed with the container
  bool reaps_;      // the worker is the daemon's own child (not a template's): waitpid it
  bool killed_ = false;
  std::optional<sandbox::Leftovers> leftovers_;  // over cgroup_; set when there is one
  ContainerState state_ = ContainerState::kStarting;
  int64_t invocations_ = 0;
  LeaveReason leave_reason_ = LeaveReason::kCrashed;
  asio::posix::stream_descriptor channel_;
  asio::posix::stream_descriptor logs_;
  asio::posix::stream_descriptor pidfd_;  // readable once the worker has exited; closed without pidfd_open
  asio::steady_timer deadline_;
  asio::steady_timer exited_;  // cancelled once the worker is reaped (AwaitExit)
  protocol::Decoder decoder_;
  std::string log_buf_;
  bool log_capped_ = false;
  std::function<void(std::string_view)> log_tap_;
  bool timed_out_ = false;
  std::optional<std::string> exit_how_;
};

}  // namespace kiln::pool
