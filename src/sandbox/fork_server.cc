#include "sandbox/fork_server.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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

Status SendWithFds(int fd, const std::string& bytes, const std::array<int, kChildFds>& fds) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kChildFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
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

// What a child does to contain itself, as the daemon's sandbox decided (contain.h).
json PlanFor(ForkSourceKind kind, const SpawnSpec& spec, const Sandbox* sandbox, std::optional<MountPlan>* mounts) {
  json plan = {{"namespaces", false}, {"mounts", nullptr}, {"ids", nullptr}, {"seccomp", false}, {"data_limit", 0}};
  if (sandbox == nullptr) return plan;
  ChildPlan cp;
  // A template's child is contained already: it only gets the memory fallback.
  sandbox->Configure(cp, kind == ForkSourceKind::kZygote && *mounts ? &**mounts : nullptr, spec.memory_mb);
  plan["data_limit"] = cp.data_limit;
  if (kind == ForkSourceKind::kTemplate) return plan;
  plan["namespaces"] = cp.namespaces;
  if (*mounts) plan["mounts"] = (*mounts)->ToJson();
  if (cp.ids) plan["ids"] = {cp.ids->uid, cp.ids->gid};
  plan["seccomp"] = cp.seccomp != nullptr;
  return plan;
}

}  // namespace

Result<WorkerProcess> ForkWorker(int channel, pid_t source_pid, ForkSourceKind kind, const SpawnSpec& spec,
                                 const Sandbox* sandbox) {
  KILN_ASSIGN_OR_RETURN(auto ends, MakeChannel());
  KILN_ASSIGN_OR_RETURN(Pipe logs, MakePipe());
  KILN_ASSIGN_OR_RETURN(Pipe go, MakePipe());
  KILN_ASSIGN_OR_RETURN(Pipe errors, MakePipe());
  WorkerProcess w;
  std::optional<MountPlan> mounts;
  if (sandbox != nullptr) {
    KILN_ASSIGN_OR_RETURN(w.cgroup, sandbox->CreateCgroup(spec.container_id, spec.memory_mb));
    if (kind == ForkSourceKind::kZygote) {
      KILN_ASSIGN_OR_RETURN(mounts, sandbox->PlanMounts(spec.binds));
    }
  }
  const std::string frame = protocol::Encode(FrameType::kFork, PlanFor(kind, spec, sandbox, &mounts).dump(), "");
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
    KILN_ASSIGN_OR_RETURN(w.pid, HostPidOf(source_pid, reported));
    w.pidfd = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, w.pid, 0)));
    if (w.pidfd.get() < 0) return ErrnoStatus("pidfd_open(" + std::to_string(w.pid) + ")");
  } else {
    w.pid = reported;
  }
  setpgid(w.pid, w.pid);  // the child does it too; from here, so a killpg cannot miss
  Status attached = w.cgroup ? w.cgroup->Attach(w.pid) : OkStatus();
  if (attached.ok() && ::write(go.write.get(), "g", 1) != 1) attached = ErrnoStatus("write(go pipe)");
  Status setup = attached.ok() ? AwaitSetup(errors.read.get(), w.pid) : attached;
  if (!setup.ok()) {
    KillAndReap(w.pid, w.pidfd.get());
    return setup;
  }
  w.channel = std::move(ends.first);
  w.logs = std::move(logs.read);
  return w;
}

namespace {

// A FORK frame and the four descriptors that came with its first bytes.
Result<std::optional<protocol::Frame>> ReadFork(std::vector<UniqueFd>* fds) {
  char prefix[protocol::kPrefixBytes];
  iovec iov{prefix, sizeof prefix};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kChildFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
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

Status BuildPlan(ForkSourceKind kind, const json& j, const std::vector<UniqueFd>& fds,
                 std::optional<SeccompProgram>* seccomp, OwnedPlan* out) {
  if (fds.size() != kChildFds) return Internal("FORK came with " + std::to_string(fds.size()) + " descriptors");
  ChildPlan& p = out->plan;
  p.channel = fds[0].get();
  p.log_write = fds[1].get();
  p.go_read = fds[2].get();
  p.error_write = fds[3].get();
  p.data_limit = j.value("data_limit", rlim_t{0});
  if (kind == ForkSourceKind::kTemplate) return OkStatus();
  p.namespaces = j.value("namespaces", false);
  if (j.contains("mounts") && j["mounts"].is_object()) {
    KILN_ASSIGN_OR_RETURN(MountPlan mounts, MountPlan::FromJson(j["mounts"]));
    out->mounts = std::move(mounts);
    p.mounts = &*out->mounts;
  }
  if (j.contains("ids") && j["ids"].is_array()) {
    p.ids = UnprivilegedIds{j["ids"][0].get<uid_t>(), j["ids"][1].get<gid_t>()};
  }
  if (j.value("seccomp", false)) {
    if (!*seccomp) {
      KILN_ASSIGN_OR_RETURN(*seccomp, BuildSeccompProgram());
    }
    p.seccomp = &**seccomp;
  }
  return OkStatus();
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
    auto header = json::parse(frame->header, nullptr, false);
    Status planned = header.is_object() ? BuildPlan(kind, header, fds, &seccomp, &owned)
                                        : Internal("FORK header is not JSON");
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
