#include "sandbox/worker_spawner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace kiln::sandbox {
namespace {

constexpr int kChannelFd = 3;

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void ExecChild(int channel, int log_write, const char* path, char* const argv[],
                            char* const envp[]) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(log_write, 1) < 0 || dup2(log_write, 2) < 0 ||
      dup2(channel, kChannelFd) < 0) {
    _exit(126);
  }
  close_range(kChannelFd + 1, ~0U, 0);
  signal(SIGPIPE, SIG_DFL);  // the daemon ignores it; dispositions survive exec
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(path, argv, envp);
  static const char kMsg[] = "kiln-worker: execve failed\n";
  (void)!write(2, kMsg, sizeof kMsg - 1);
  _exit(127);
}

}  // namespace

Result<WorkerProcess> SpawnWorker(const SpawnSpec& spec) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus("socketpair(AF_UNIX, SOCK_STREAM)");
  }
  UniqueFd parent_end(sv[0]), child_end(sv[1]);
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) return ErrnoStatus("pipe2(O_CLOEXEC)");
  UniqueFd log_read(pfd[0]), log_write(pfd[1]);

  // Everything the child needs is built before fork: after it, no allocation.
  std::vector<char*> argv = {const_cast<char*>(spec.worker_path.c_str()), nullptr};
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork");
  if (pid == 0) {
    ExecChild(child_end.get(), log_write.get(), spec.worker_path.c_str(), argv.data(), envp.data());
  }
  setpgid(pid, pid);  // also from the parent, so a killpg right away cannot miss
  WorkerProcess w;
  w.pid = pid;
  w.channel = std::move(parent_end);
  w.logs = std::move(log_read);
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

std::string KillAndReap(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return std::string("waitpid: ") + std::strerror(errno);
  }
  return DescribeExit(status);
}

std::optional<std::string> ReapIfExited(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  kill(-pid, SIGKILL);  // whatever it left behind in its group
  return DescribeExit(status);
}

}  // namespace kiln::sandbox
