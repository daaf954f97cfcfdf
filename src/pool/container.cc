#include "pool/container.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/time_util.h"
#include "pool/blocking_call.h"
#include "sandbox/leftovers.h"

namespace kiln::pool {

namespace {
constexpr char kLogCapMarker[] = "\n[kiln] log limit of 256 KiB reached; the rest was dropped\n";
}  // namespace

const char* ContainerStateName(ContainerState s) {
  switch (s) {
    case ContainerState::kStarting: return "starting";
    case ContainerState::kWarm: return "warm";
    case ContainerState::kBusy: return "busy";
    case ContainerState::kDraining: return "draining";
    case ContainerState::kGone: return "gone";
  }
  return "gone";
}

asio::awaitable<Result<std::shared_ptr<Container>>> Container::Spawn(asio::any_io_executor ex,
                                                                   asio::any_io_executor blocking,
                                                                   const sandbox::SpawnSpec& spec,
                                                                   const sandbox::Sandbox* sandbox) {
  Result<sandbox::WorkerProcess> spawned =
      co_await OnBlockingPool(blocking, [&] { return sandbox::SpawnWorker(spec, sandbox); });
  if (!spawned.ok()) co_return spawned.status();
  co_return Adopt(ex, std::move(spawned).value(), spec.container_id, spec.memory_mb);
}

Result<std::shared_ptr<Container>> Container::Adopt(asio::any_io_executor ex, sandbox::WorkerProcess w,
                                                    std::string id, int64_t memory_mb) {
  // A template's child comes with its pidfd; the daemon's own child gets one here.
  UniqueFd pidfd = std::move(w.pidfd);
  const bool reaps = !pidfd.valid();
  if (reaps) pidfd = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, w.pid, 0)));
  if (!pidfd.valid() && errno != ENOSYS) {  // ENOSYS: polled instead (WatchExit)
    Status why = ErrnoStatus("pidfd_open(" + std::to_string(w.pid) + ")");
    sandbox::KillAndReap(w.pid);  // it is stopped before its first frame: at once
    return why;
  }
  std::shared_ptr<Container> c(new Container(ex, std::move(w), std::move(pidfd), reaps, std::move(id), memory_mb));
  asio::co_spawn(ex, [c]() { return c->PumpLogs(); }, asio::detached);
  asio::co_spawn(ex, [c]() { return c->WatchExit(); }, asio::detached);
  return c;
}

Container::Container(asio::any_io_executor ex, sandbox::WorkerProcess w, UniqueFd pidfd, bool reaps, std::string id,
                     int64_t memory_mb)
    : id_(std::move(id)),
      pid_(w.pid),
      started_at_ms_(NowEpochMs()),
      start_phases_(w.phases),
      memory_mb_(memory_mb),
      cgroup_(std::move(w.cgroup)),
      reaps_(reaps),
      channel_(ex, w.channel.release()),
      logs_(ex, w.logs.release()),
      pidfd_(ex),
      deadline_(ex),
      exited_(ex, std::chrono::steady_clock::time_point::max()) {
  if (pidfd.valid()) pidfd_.assign(pidfd.release());
  // Non-blocking once, so DrainLogs can read what is there without a syscall to set it.
  boost::system::error_code ec;
  logs_.non_blocking(true, ec);
  if (cgroup_) leftovers_.emplace(cgroup_.get(), pid_);
}

// WatchExit holds the container until its worker is reaped: only at shutdown, with
// the event loop gone, is it still there here, and then waiting is what is left.
Container::~Container() {
  Retire(LeaveReason::kShutdown);
  if (!exit_how_) exit_how_ = sandbox::KillAndReap(pid_, reaps_ ? -1 : pidfd_.native_handle());
}  // then cgroup_ removes its group

std::optional<double> Container::PeakMemoryMb() const {
  if (!cgroup_) return std::nullopt;
  auto bytes = cgroup_->PeakBytes();
  if (!bytes) return std::nullopt;
  return static_cast<double>(*bytes) / (1 << 20);
}

std::optional<double> Container::ChargedMemoryMb() const {
  if (!cgroup_) return std::nullopt;
  auto bytes = cgroup_->CurrentBytes();
  if (!bytes) return std::nullopt;
  return static_cast<double>(*bytes) / (1 << 20);
}

void Container::Transition(ContainerState to) {
  using S = ContainerState;
  bool legal = to == S::kGone || (state_ == S::kStarting && to == S::kWarm) ||
               (state_ == S::kWarm && to == S::kBusy) || (state_ == S::kBusy && to == S::kWarm) ||
               (state_ == S::kBusy && to == S::kDraining);
  KILN_CHECK(legal);
  state_ = to;
}

void Container::Drain() {
  if (state_ == ContainerState::kBusy) Transition(ContainerState::kDraining);
}

void Container::Retire(LeaveReason why) {
  if (state_ == ContainerState::kGone) return;
  leave_reason_ = why;
  Transition(ContainerState::kGone);
  DrainLogs();  // what the worker wrote before its end belongs to the current run
  boost::system::error_code ec;
  channel_.close(ec);
  Kill();
  logs_.close(ec);  // also ends PumpLogs if a grandchild still holds the pipe
  deadline_.cancel();
}

void Container::Kill() {
  if (exit_how_) return;  // reaped: its pid may be someone else's now
  ::kill(-pid_, SIGKILL);
  if (pidfd_.is_open()) ::syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), SIGKILL, nullptr, 0);
  killed_ = true;
}

asio::awaitable<void> Container::WatchExit() {
  auto self = shared_from_this();
  boost::system::error_code ec;
  if (pidfd_.is_open()) {
    co_await pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) Exited();
    co_return;
  }
  // No pidfd_open (a kernel before 5.3, or valgrind 3.19, which the instruction
  // benchmark runs under): the daemon's own child is looked at every 100 ms instead.
  asio::steady_timer poll(pidfd_.get_executor());
  while (!exit_how_) {
    if (HasExited()) {
      Exited();
      co_return;
    }
    poll.expires_after(std::chrono::milliseconds(100));
    co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

bool Container::HasExited() {
  if (pidfd_.is_open()) {
    pollfd p{pidfd_.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_;
}

void Container::Exited() {
  if (exit_how_) return;
  exit_how_ = sandbox::CollectExit(pid_, reaps_, killed_);
  Retire(LeaveReason::kCrashed);  // unless something retired it first: it ended on its own
  exited_.cancel();
}

asio::awaitable<void> Container::AwaitExit() {
  if (exit_how_) co_return;
  boost::system::error_code ec;
  co_await exited_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// One poll of two descriptors: the pidfd (it has exited, and the watch may not have run
// yet) and the channel (a worker being torn down, a PID namespace's processes killed
// one by one, closes its descriptors before it can be reaped: its channel tells first).
bool Container::Alive() {
  if (state_ == ContainerState::kGone) return false;
  pollfd p[2] = {{channel_.native_handle(), POLLRDHUP, 0}, {pidfd_.native_handle(), POLLIN, 0}};
  const int ready = ::poll(p, pidfd_.is_open() ? 2 : 1, 0);
  const bool hung_up = ready > 0 && (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  const bool exited = pidfd_.is_open() ? ready > 0 && (p[1].revents & POLLIN) != 0 : HasExited();
  if (!exited && !hung_up) return true;
  if (exited) {
    Exited();  // reaped now, so its record says how it ended
  } else {
    Retire(LeaveReason::kCrashed);
  }
  return false;
}

asio::awaitable<Exchange> Container::Initialize(std::string init_header,
                                                std::chrono::steady_clock::duration budget) {
  Exchange hello = co_await Exchange1(std::nullopt, budget);
  if (hello.end != Exchange::End::kFrame) co_return hello;
  if (hello.frame.type != protocol::FrameType::kHello) {
    Retire(LeaveReason::kCrashed);
    co_return Exchange{Exchange::End::kCrashed, {}, "worker did not say HELLO"};
  }
  Exchange done = co_await Exchange1(
      protocol::Encode(protocol::FrameType::kInit, init_header, ""), budget);
  if (done.end == Exchange::End::kFrame) {
    Transition(ContainerState::kWarm);
    EndLeftovers();
  }
  co_return done;
}

asio::awaitable<Exchange> Container::AwaitRestore(std::chrono::steady_clock::duration budget) {
  Exchange hello = co_await Exchange1(std::nullopt, budget);
  if (hello.end != Exchange::End::kFrame) co_return hello;
  if (hello.frame.type != protocol::FrameType::kHello) {
    Retire(LeaveReason::kCrashed);
    co_return Exchange{Exchange::End::kCrashed, {}, "the restored worker did not say HELLO"};
  }
  Transition(ContainerState::kWarm);
  co_return hello;
}

asio::awaitable<Exchange> Container::Ask(std::optional<std::string> request,
                                         std::chrono::steady_clock::duration budget) {
  return Exchange1(std::move(request), budget);
}

asio::awaitable<Exchange> Container::Invoke(std::string header, std::string event,
                                            std::chrono::steady_clock::duration budget) {
  Transition(ContainerState::kBusy);
  ++invocations_;
  Exchange r = co_await Exchange1(protocol::Encode(protocol::FrameType::kInvoke, header, event),
                                  budget);
  // A draining container stays draining: the pool retires it on release.
  if (r.end == Exchange::End::kFrame && state_ == ContainerState::kBusy) {
    Transition(ContainerState::kWarm);
  }
  if (r.end == Exchange::End::kFrame) EndLeftovers();
  co_return r;
}

void Container::EndLeftovers() {
  if (!leftovers_) return;  // no cgroup (kiln doctor says so): no list of its processes
  Result<size_t> killed = leftovers_->Kill();
  std::string line;
  if (!killed.ok()) {
    line = "[kiln] could not end the processes left running: " + killed.status().message() + "\n";
  } else if (*killed > 0) {
    DrainLogs();  // what they wrote before they were killed
    line = "[kiln] killed " + std::to_string(*killed) + " leftover process" + (*killed == 1 ? "" : "es") +
           ": nothing of a container runs between its invocations\n";
  }
  AppendLogs(line.data(), line.size());
}

asio::awaitable<Exchange> Container::Exchange1(std::optional<std::string> request,
                                               std::chrono::steady_clock::duration budget) {
  auto self = shared_from_this();
  timed_out_ = false;
  deadline_.expires_after(budget);
  deadline_.async_wait([self](boost::system::error_code ec) {
    if (ec || self->exit_how_) return;
    self->timed_out_ = true;
    self->Retire(LeaveReason::kTimeout);
  });

  boost::system::error_code ec;
  if (request) {
    co_await asio::async_write(channel_, asio::buffer(*request),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  Result<std::optional<protocol::Frame>> frame = std::optional<protocol::Frame>();
  if (!ec) frame = co_await ReadFrame();
  deadline_.cancel();

  if (!ec && frame.ok() && frame->has_value()) {
    DrainLogs();
    co_return Exchange{Exchange::End::kFrame, std::move(**frame), ""};
  }
  // The worker is gone (or speaking nonsense): collect what it said, then end it.
  DrainLogs();
  bool timed_out = timed_out_;
  bool oom = !timed_out && cgroup_ && cgroup_->OomKilled();
  std::string protocol_error = (!ec && !frame.ok()) ? frame.status().message() : "";
  const LeaveReason why = timed_out ? LeaveReason::kTimeout : oom ? LeaveReason::kOom : LeaveReason::kCrashed;
  if (state_ == ContainerState::kGone && leave_reason_ == LeaveReason::kCrashed) {
    leave_reason_ = why;  // the exit watch saw it end first; the exchange knows why
  }
  Retire(why);
  co_await AwaitExit();
  std::string how = "worker " + *exit_how_;
  if (!protocol_error.empty()) how += " (" + protocol_error + ")";
  auto end = timed_out ? Exchange::End::kTimeout : oom ? Exchange::End::kOom : Exchange::End::kCrashed;
  co_return Exchange{end, {}, how};
}

asio::awaitable<Result<std::optional<protocol::Frame>>> Container::ReadFrame() {
  char buf[64 * 1024];
  for (;;) {
    auto next = decoder_.Next();
    if (!next.ok() || next->has_value()) co_return next;
    boost::system::error_code ec;
    size_t n = co_await channel_.async_read_some(asio::buffer(buf),
                                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::optional<protocol::Frame>();
    decoder_.Feed(std::string_view(buf, n));
  }
}

// The pump only waits for the pipe to be readable and reads it in DrainLogs: no
// bytes ever sit in a buffer of their own between the pipe and the run's logs, so
// output written before a result can never surface in the next run.
asio::awaitable<void> Container::PumpLogs() {
  auto self = shared_from_this();
  for (;;) {
    boost::system::error_code ec;
    co_await logs_.async_wait(asio::posix::stream_descriptor::wait_read,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !DrainLogs()) co_return;
  }
}

bool Container::DrainLogs() {
  if (!logs_.is_open()) return false;
  int fd = logs_.native_handle();
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      AppendLogs(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0;  // EAGAIN: drained, still open; 0: every writer is gone
  }
}

void Container::AppendLogs(const char* data, size_t n) {
  if (log_tap_) log_tap_(std::string_view(data, n));
  if (log_capped_) return;
  size_t room = kMaxLogBytes - log_buf_.size();
  if (n <= room) {
    log_buf_.append(data, n);
    return;
  }
  log_buf_.append(data, room);
  log_buf_.append(kLogCapMarker);
  log_capped_ = true;
}

std::string Container::TakeLogs() {
  log_capped_ = false;
  return std::exchange(log_buf_, {});
}

}  // namespace kiln::pool
