#include "sandbox/worker_spawner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/time_util.h"
#include "sandbox/contain.h"
#include "sandbox/namespaces.h"
#include "sandbox/sandbox.h"

namespace kiln::sandbox {
namespace {

// Bounds the wait for a child's setup (mounts, pivot): syscalls only, so this is
// generous; a child past it is killed rather than left to hang the daemon.
constexpr int kSetupTimeoutMs = 5000;

pid_t CloneChild(int flags) {
  // Like fork(), but straight into the new namespaces (a PID namespace can only be
  // entered by a new process).
  return static_cast<pid_t>(syscall(SYS_clone, SIGCHLD | flags, nullptr, nullptr, nullptr, nullptr));
}

// A zygote keeps the daemon's PID namespace: the children it clones with
// CLONE_PARENT are the daemon's, under pids the daemon can use.
constexpr int kZygoteCloneFlags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;

}  // namespace

Result<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2(O_CLOEXEC)");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<std::pair<UniqueFd, UniqueFd>> MakeChannel() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus("socketpair(AF_UNIX, SOCK_STREAM)");
  }
  return std::make_pair(UniqueFd(sv[0]), UniqueFd(sv[1]));
}

Status AwaitSetup(int error_read, pid_t pid) {
  pollfd p{error_read, POLLIN, 0};
  int ready = poll(&p, 1, kSetupTimeoutMs);
  if (ready == 0) return Internal("container setup took longer than 5 s (pid " + std::to_string(pid) + ")");
  SetupFailure f;
  ssize_t n = read(error_read, &f, sizeof f);
  if (n == 0) return OkStatus();
  if (n != static_cast<ssize_t>(sizeof f)) return ErrnoStatus("read(container setup pipe)");
  f.call[sizeof f.call - 1] = '\0';
  return Internal(std::string("container setup failed: ") + f.call + ": " + std::strerror(f.error));
}

Result<WorkerProcess> SpawnWorker(const SpawnSpec& spec, const Sandbox* sandbox) {
  const auto began = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(auto channel, MakeChannel());
  UniqueFd parent_end = std::move(channel.first), child_end = std::move(channel.second);
  KILN_ASSIGN_OR_RETURN(Pipe logs, MakePipe());
  KILN_ASSIGN_OR_RETURN(Pipe go, MakePipe());
  KILN_ASSIGN_OR_RETURN(Pipe errors, MakePipe());

  WorkerProcess w;
  w.id = spec.container_id;
  std::optional<MountPlan> mounts;
  const bool zygote = spec.role == WorkerRole::kZygote;
  if (sandbox != nullptr) {
    KILN_ASSIGN_OR_RETURN(w.cgroup, sandbox->CreateCgroup(spec.container_id, spec.memory_mb));
    if (zygote) {
      KILN_ASSIGN_OR_RETURN(mounts, sandbox->PlanZygoteMounts(spec.binds));
    } else {
      KILN_ASSIGN_OR_RETURN(mounts, sandbox->PlanMounts(spec.binds));
    }
  }
  // Everything the child needs is built before clone: after it, no allocation.
  std::vector<char*> argv = {const_cast<char*>(spec.worker_path.c_str()), nullptr};
  if (zygote) argv.insert(argv.begin() + 1, const_cast<char*>("--zygote"));
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ChildPlan plan{child_end.get(), logs.write.get(), go.read.get(), errors.write.get(),
                 spec.worker_path.c_str(), argv.data(), envp.data()};
  if (sandbox != nullptr) {
    if (zygote) {
      sandbox->ConfigureZygote(plan, mounts ? &*mounts : nullptr, spec.memory_mb);
    } else {
      sandbox->Configure(plan, mounts ? &*mounts : nullptr, spec.memory_mb);
    }
  }

  pid_t pid = CloneChild(!plan.namespaces ? 0 : zygote ? kZygoteCloneFlags : kCloneFlags);
  if (pid < 0) return ErrnoStatus(plan.namespaces ? "clone(CLONE_NEWNS|NEWPID|NEWIPC|NEWUTS|NEWNET)" : "clone");
  if (pid == 0) ContainAndExec(plan);
  setpgid(pid, pid);  // also from the parent, so a killpg right away cannot miss
  const auto cloned = std::chrono::steady_clock::now();
  w.pid = pid;
  errors.write.reset();  // the child's copy closes at its exec
  Status attached = w.cgroup ? w.cgroup->Attach(pid) : OkStatus();
  if (attached.ok() && ::write(go.write.get(), "g", 1) != 1) attached = ErrnoStatus("write(go pipe)");
  Status setup = attached.ok() ? AwaitSetup(errors.read.get(), pid) : attached;
  if (!setup.ok()) {
    KillAndReap(pid);
    return setup;
  }
  w.channel = std::move(parent_end);
  w.logs = std::move(logs.read);
  w.phases = {MsBetween(began, cloned), MsSince(cloned)};
  return w;
}

namespace {

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by signal SIG") + (name ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

std::string KillAndReap(pid_t pid, int pidfd) {
  kill(-pid, SIGKILL);
  if (pidfd >= 0) {
    // Not ours to reap: its template does. It is gone when the pidfd says so.
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    pollfd p{pidfd, POLLIN, 0};
    if (poll(&p, 1, kSetupTimeoutMs) != 1) return "still there 5 s after SIGKILL";
    return "killed by signal SIGKILL";
  }
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return std::string("waitpid: ") + std::strerror(errno);
  }
  return DescribeExit(status);
}

std::string CollectExit(pid_t pid, bool reap, bool killed) {
  if (!reap) return killed ? "killed by signal SIGKILL" : "ended on its own (its exit status goes to its template)";
  int status = 0;
  pid_t got;
  while ((got = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (got != pid) return got < 0 ? std::string("waitpid: ") + std::strerror(errno) : "ended (not yet reapable)";
  return DescribeExit(status);
}

std::optional<std::string> ReapIfExited(pid_t pid, int pidfd) {
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return std::nullopt;
    kill(-pid, SIGKILL);
    return "ended on its own (its exit status goes to its template)";
  }
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  kill(-pid, SIGKILL);  // whatever it left behind in its group
  return DescribeExit(status);
}

}  // namespace kiln::sandbox
