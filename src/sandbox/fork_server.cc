#include "sandbox/fork_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/time_util.h"
#include "runtime/protocol.h"
#include "sandbox/contain.h"
#include "sandbox/namespaces.h"
#include "sandbox/sandbox.h"

namespace kiln::sandbox {
namespace {

using protocol::FrameType;
using json = nlohmann::json;

constexpr int kSourceChannelFd = 3;
constexpr int kForkTimeoutMs = 5000;
constexpr size_t kChildFds = 4;  // channel, log write end, go read end, error write end

// A message's data buffer with room for the child's descriptors beside it.
struct FdMessage {
  FdMessage(void* data, size_t size) : iov{data, size} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;

  iovec iov;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kChildFds)] = {};
  msghdr msg{};
};

Status SendWithFds(int fd, const std::string& bytes, const std::array<int, kChildFds>& fds) {
  FdMessage m(const_cast<char*>(bytes.data()), bytes.size());
  msghdr& msg = m.msg;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * kChildFds);
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * kChildFds);
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus("sendmsg(FORK)");
  // The descriptors went with the first byte; the rest, if any, is plain data.
  for (size_t done = static_cast<size_t>(n); done < bytes.size();) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, kForkTimeoutMs) != 1) return Internal("fork source: channel not writable");
    ssize_t m = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (m < 0 && errno != EINTR && errno != EAGAIN) return ErrnoStatus("send(FORK)");
    if (m > 0) done += static_cast<size_t>(m);
  }
  return OkStatus();
}

// The daemon's side of the channel is non-blocking (asio): wait with poll.
Result<protocol::Frame> AwaitReply(int fd) {
  protocol::Decoder decoder;
  char buf[4096];
  for (;;) {
    KILN_ASSIGN_OR_RETURN(auto frame, decoder.Next());
    if (frame) return std::move(*frame);
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, kForkTimeoutMs);
    if (ready == 0) return Internal("fork source did not answer within 5 s");
    if (ready < 0 && errno != EINTR) return ErrnoStatus("poll(fork source)");
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return Internal("fork source closed its channel");
    if (n < 0 && errno != EINTR && errno != EAGAIN) return ErrnoStatus("read(fork source)");
    if (n > 0) decoder.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

// A template's child lives in the template's PID namespace: its pid there is not
// the daemon's. /proc lists the template's children under host pids, and each one's
// NSpid line ends with its pid in the innermost namespace.
Result<pid_t> HostPidOf(pid_t source_pid, pid_t ns_pid) {
  const std::string src = std::to_string(source_pid);
  std::ifstream children("/proc/" + src + "/task/" + src + "/children");
  pid_t candidate;
  while (children >> candidate) {
    std::ifstream status("/proc/" + std::to_string(candidate) + "/status");
    for (std::string line; std::getline(status, line);) {
      if (!line.starts_with("NSpid:")) continue;
      std::istringstream fields(line.substr(6));
      pid_t last = -1;
      for (pid_t p; fields >> p;) last = p;
      if (last == ns_pid) return candidate;
    }
  }
  return Internal("fork source: no child with pid " + std::to_string(ns_pid) + " in its namespace");
}

// Who the child becomes (FORK): what the daemon's sandbox decided (contain.h). A
// template's child is contained already.
json WhoFor(ForkSourceKind kind, const Sandbox* sandbox) {
  json who = {{"namespaces", false}, {"ids", nullptr}, {"seccomp", false}};
  if (sandbox == nullptr || kind == ForkSourceKind::kTemplate) return who;
  ChildPlan cp;
  sandbox->Configure(cp, nullptr, 0);
  who["namespaces"] = cp.namespaces;
  if (cp.ids) who["ids"] = {cp.ids->uid, cp.ids->gid};
  who["seccomp"] = cp.seccomp != nullptr;
  return who;
}

}  // namespace

PendingWorker& PendingWorker::operator=(PendingWorker&& o) noexcept {
  if (this == &o) return *this;
  if (process.pid > 0) KillAndReap(process.pid, process.pidfd.get());
  kind = o.kind;
  process = std::move(o.process);
  o.process.pid = -1;
  go = std::move(o.go);
  errors = std::move(o.errors);
  return *this;
}

PendingWorker::~PendingWorker() {
  if (process.pid > 0) KillAndReap(process.pid, process.pidfd.get());
}

Result<PendingWorker> ForkPending(int channel, pid_t source_pid, ForkSourceKind kind, const std::string& id,
                                  int64_t memory_mb, const Sandbox* sandbox) {
  KILN_ASSIGN_OR_RETURN(auto ends, MakeChannel());
  KILN_ASSIGN_OR_RETURN(Pipe logs, MakePipe());
  KILN_ASSIGN_OR_RETURN(Pipe go, MakePipe());
  KILN_ASSIGN_OR_RETURN(Pipe errors, MakePipe());
  PendingWorker p;
  p.kind = kind;
  p.process.id = id;
  if (sandbox != nullptr) {
    KILN_ASSIGN_OR_RETURN(p.process.cgroup, sandbox->CreateCgroup(id, memory_mb));
  }
  const std::string frame = protocol::Encode(FrameType::kFork, WhoFor(kind, sandbox).dump(), "");
  KILN_RETURN_IF_ERROR(
      SendWithFds(channel, frame, {ends.second.get(), logs.write.get(), go.read.get(), errors.write.get()}));
  ends.second.reset();  // the child has its copies now
  logs.write.reset();
  go.read.reset();
  errors.write.reset();

  KILN_ASSIGN_OR_RETURN(protocol::Frame reply, AwaitReply(channel));
  auto answer = json::parse(reply.header, nullptr, false);
  if (reply.type != FrameType::kForked || !answer.is_object()) return Internal("fork source: unexpected answer");
  if (answer.contains("error")) return Internal("fork source: " + answer.value("error", ""));
  const pid_t reported = answer.value("pid", -1);
  if (kind == ForkSourceKind::kTemplate) {
    auto host_pid = HostPidOf(source_pid, reported);
    if (!host_pid.ok()) return host_pid.status();
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, *host_pid, 0)));
    if (pidfd.get() < 0) return ErrnoStatus("pidfd_open(" + std::to_string(*host_pid) + ")");
    p.process.pid = *host_pid;
    p.process.pidfd = std::move(pidfd);
  } else {
    p.process.pid = reported;
  }
  setpgid(p.process.pid, p.process.pid);  // the child does it too; from here, so a killpg cannot miss
  p.process.channel = std::move(ends.first);
  p.process.logs = std::move(logs.read);
  p.go = std::move(go.write);
  p.errors = std::move(errors.read);
  return p;
}

Status AttachPending(PendingWorker& pending) {
  return pending.process.cgroup ? pending.process.cgroup->Attach(pending.process.pid) : OkStatus();
}

Result<WorkerProcess> Launch(PendingWorker pending, const std::vector<BindMount>& binds, int64_t memory_mb,
                             const Sandbox* sandbox) {
  const auto began = std::chrono::steady_clock::now();
  WorkerProcess& w = pending.process;
  if (auto how = ReapIfExited(w.pid, w.pidfd.get())) {
    w.pid = -1;
    return Internal("the forked child ended before its launch: " + *how);
  }
  // Where it lives: its bundle and layers (a zygote's child), the memory fallback.
  json where = {{"mounts", nullptr}, {"data_limit", 0}};
  if (sandbox != nullptr) {
    std::optional<MountPlan> mounts;
    if (pending.kind == ForkSourceKind::kZygote) {
      KILN_ASSIGN_OR_RETURN(mounts, sandbox->PlanMounts(binds));
    }
    ChildPlan cp;
    sandbox->Configure(cp, nullptr, memory_mb);
    where["data_limit"] = cp.data_limit;
    if (mounts) where["mounts"] = mounts->ToJson();
    if (w.cgroup) KILN_RETURN_IF_ERROR(w.cgroup->SetMemoryLimit(memory_mb << 20));
  }
  const std::string text = where.dump();
  std::string message = "g";
  const uint32_t n = htonl(static_cast<uint32_t>(text.size()));
  message.append(reinterpret_cast<const char*>(&n), sizeof n);
  message += text;
  for (size_t done = 0; done < message.size();) {
    ssize_t m = ::write(pending.go.get(), message.data() + done, message.size() - done);
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) return ErrnoStatus("write(go pipe)");
    done += static_cast<size_t>(m);
  }
  KILN_RETURN_IF_ERROR(AwaitSetup(pending.errors.get(), w.pid));
  WorkerProcess launched = std::move(w);
  w.pid = -1;  // launched: no longer the pending's to kill
  launched.phases.sandbox_ms = MsSince(began);
  return launched;
}

Result<WorkerProcess> ForkWorker(int channel, pid_t source_pid, ForkSourceKind kind, const SpawnSpec& spec,
                                 const Sandbox* sandbox) {
  const auto began = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(PendingWorker pending,
                        ForkPending(channel, source_pid, kind, spec.container_id, spec.memory_mb, sandbox));
  KILN_RETURN_IF_ERROR(AttachPending(pending));
  const double fork_ms = MsSince(began);
  KILN_ASSIGN_OR_RETURN(WorkerProcess launched, Launch(std::move(pending), spec.binds, spec.memory_mb, sandbox));
  launched.phases.fork_ms = fork_ms;
  return launched;
}

namespace {

// A FORK frame and the four descriptors that came with its first bytes.
Result<std::optional<protocol::Frame>> ReadFork(std::vector<UniqueFd>* fds) {
  char prefix[protocol::kPrefixBytes];
  FdMessage m(prefix, sizeof prefix);
  msghdr& msg = m.msg;
  ssize_t n;
  do {
    n = recvmsg(kSourceChannelFd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  } while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds->emplace_back(fd);
    }
  }
  if (n == 0) return std::optional<protocol::Frame>();
  if (n != static_cast<ssize_t>(sizeof prefix)) return ErrnoStatus("recvmsg(FORK)");
  uint32_t length = (uint32_t{static_cast<unsigned char>(prefix[0])} << 24) |
                    (uint32_t{static_cast<unsigned char>(prefix[1])} << 16) |
                    (uint32_t{static_cast<unsigned char>(prefix[2])} << 8) | static_cast<unsigned char>(prefix[3]);
  if (length > protocol::kMaxFrameBytes) return Internal("protocol: frame exceeds the cap");
  std::string body(length, '\0');
  for (size_t done = 0; done < length;) {
    ssize_t m = read(kSourceChannelFd, body.data() + done, length - done);
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) return Internal("protocol: channel closed inside a frame");
    done += static_cast<size_t>(m);
  }
  protocol::Decoder decoder;
  decoder.Feed(std::string_view(prefix, sizeof prefix));
  decoder.Feed(body);
  return decoder.Next();
}

struct OwnedPlan {
  ChildPlan plan;
  std::optional<MountPlan> mounts;
};

// Who the child becomes, from FORK: its descriptors, namespaces, user, seccomp.
Status PlanWho(ForkSourceKind kind, const json& who, const std::vector<UniqueFd>& fds,
               std::optional<SeccompProgram>* seccomp, OwnedPlan* out) {
  if (fds.size() != kChildFds) return Internal("FORK came with " + std::to_string(fds.size()) + " descriptors");
  ChildPlan& p = out->plan;
  p.channel = fds[0].get();
  p.log_write = fds[1].get();
  p.go_read = fds[2].get();
  p.error_write = fds[3].get();
  if (kind == ForkSourceKind::kTemplate) return OkStatus();
  p.namespaces = who.value("namespaces", false);
  if (who.contains("ids") && who["ids"].is_array()) {
    p.ids = UnprivilegedIds{who["ids"][0].get<uid_t>(), who["ids"][1].get<gid_t>()};
  }
  if (who.value("seccomp", false)) {
    if (!*seccomp) {
      KILN_ASSIGN_OR_RETURN(*seccomp, BuildSeccompProgram());
    }
    p.seccomp = &**seccomp;
  }
  return OkStatus();
}

bool ReadAll(int fd, char* buf, size_t n) {
  for (size_t done = 0; done < n;) {
    ssize_t m = read(fd, buf + done, n - done);
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) return false;
    done += static_cast<size_t>(m);
  }
  return true;
}

// In the child: waits for go and the plan of where it lives (a single-threaded
// process, so it may allocate). Exits when the daemon gave up on it.
void AwaitLaunch(OwnedPlan& owned) {
  char go = 0;
  uint32_t length = 0;
  if (!ReadAll(owned.plan.go_read, &go, 1) || !ReadAll(owned.plan.go_read, reinterpret_cast<char*>(&length), 4)) {
    _exit(125);
  }
  std::string text(ntohl(length), '\0');
  if (!ReadAll(owned.plan.go_read, text.data(), text.size())) _exit(125);
  owned.plan.go_read = -1;  // consumed: ContainInChild does not wait again
  auto where = json::parse(text, nullptr, false);
  if (!where.is_object()) FailSetup(owned.plan.error_write, EINVAL, "read the launch plan");
  owned.plan.data_limit = where.value("data_limit", rlim_t{0});
  if (where.contains("mounts") && where["mounts"].is_object()) {
    auto mounts = MountPlan::FromJson(where["mounts"]);
    if (!mounts.ok()) FailSetup(owned.plan.error_write, EINVAL, "read the mount plan");
    owned.mounts = std::move(mounts).value();
    owned.plan.mounts = &*owned.mounts;
  }
}

}  // namespace

Result<bool> ServeForks(ForkSourceKind kind, const ForkHooks& hooks) {
  // A template's children are reaped by the kernel: nobody here waits for them.
  if (kind == ForkSourceKind::kTemplate) signal(SIGCHLD, SIG_IGN);
  std::optional<SeccompProgram> seccomp;
  for (;;) {
    std::vector<UniqueFd> fds;
    KILN_ASSIGN_OR_RETURN(auto frame, ReadFork(&fds));
    if (!frame) return false;
    if (frame->type != FrameType::kFork) return Internal("fork source: unexpected frame");
    OwnedPlan owned;
    auto who = json::parse(frame->header, nullptr, false);
    Status planned = who.is_object() ? PlanWho(kind, who, fds, &seccomp, &owned) : Internal("FORK header is not JSON");
    json reply;
    if (planned.ok()) {
      // A zygote's child gets its own namespaces and the daemon as its parent; a
      // template's is an ordinary child that shares the template's.
      const int flags = kind == ForkSourceKind::kZygote
                            ? CLONE_PARENT | (owned.plan.namespaces ? kCloneFlags : 0)
                            : 0;
      hooks.before_fork();
      pid_t pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD | flags, nullptr, nullptr, nullptr, nullptr));
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // waiting for its launch, it must not outlive the daemon
        close(kSourceChannelFd);           // the source's channel is not the child's
        AwaitLaunch(owned);
        ContainInChild(owned.plan);  // returns only when contained
        for (UniqueFd& fd : fds) (void)fd.release();  // closed by the containment already
        close(kSetupErrorFd);                           // the daemon's AwaitSetup: done
        return true;
      }
      hooks.after_fork_in_parent();
      reply = pid > 0 ? json{{"pid", pid}} : json{{"error", std::string("clone: ") + std::strerror(errno)}};
    } else {
      reply = {{"error", planned.message()}};
    }
    fds.clear();  // the child's descriptors are the child's
    KILN_RETURN_IF_ERROR(protocol::WriteFrame(kSourceChannelFd, FrameType::kForked, reply.dump(), ""));
  }
}

}  // namespace kiln::sandbox
