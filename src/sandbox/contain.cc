#include "sandbox/contain.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/namespaces.h"

namespace kiln::sandbox {
namespace {

constexpr int kChannelFd = 3, kErrorFd = kSetupErrorFd, kFirstHighFd = 10;

// Moves the inherited descriptors out of the way, then down to their fixed numbers.
int ArrangeDescriptors(const ChildPlan& p, int* error_fd, const char** failed) {
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int channel = fcntl(p.channel, F_DUPFD_CLOEXEC, kFirstHighFd);
  int logs = fcntl(p.log_write, F_DUPFD_CLOEXEC, kFirstHighFd);
  int err = fcntl(p.error_write, F_DUPFD_CLOEXEC, kFirstHighFd);
  if (devnull < 0 || channel < 0 || logs < 0 || err < 0) {
    *failed = "fcntl(F_DUPFD_CLOEXEC)";
    return errno;
  }
  *error_fd = err;
  if (dup2(devnull, 0) < 0 || dup2(logs, 1) < 0 || dup2(logs, 2) < 0 || dup2(channel, kChannelFd) < 0 ||
      dup3(err, kErrorFd, O_CLOEXEC) < 0) {
    *failed = "dup2(stdio, channel)";
    return errno;
  }
  *error_fd = kErrorFd;
  close_range(kErrorFd + 1, ~0U, 0);
  return 0;
}

}  // namespace

void FailSetup(int error_fd, int error, const char* call) {
  SetupFailure f;
  f.error = error;
  size_t n = strnlen(call, sizeof f.call - 1);
  std::memcpy(f.call, call, n);
  (void)!write(error_fd, &f, sizeof f);
  _exit(125);
}

void ContainInChild(const ChildPlan& p) {
  const char* failed = "";
  int err_fd = p.error_write;
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);

  char go = 0;
  if (p.go_read >= 0 && read(p.go_read, &go, 1) != 1) _exit(125);  // the daemon gave up on us

  if (p.namespaces) {
    if (int e = ConfigureNamespacesInChild(&failed)) FailSetup(err_fd, e, failed);
  }
  if (p.mounts != nullptr) {
    if (int e = p.mounts->ApplyInChild(&failed)) FailSetup(err_fd, e, failed);
  }
  if (int e = SetResourceLimitsInChild(p.open_files, &failed)) FailSetup(err_fd, e, failed);
  if (p.data_limit > 0) {
    struct rlimit data = {p.data_limit, p.data_limit};
    if (setrlimit(RLIMIT_DATA, &data) != 0) FailSetup(err_fd, errno, "setrlimit(RLIMIT_DATA)");
  }
  if (int e = ArrangeDescriptors(p, &err_fd, &failed)) FailSetup(err_fd, e, failed);
  if (p.ids) {
    if (int e = DropPrivilegesInChild(p.ids->uid, p.ids->gid, &failed)) FailSetup(err_fd, e, failed);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a change of credentials cleared it
  }
  if (p.seccomp != nullptr) {
    if (int e = p.seccomp->InstallInChild(&failed)) FailSetup(err_fd, e, failed);
  }
  // The daemon ignores SIGPIPE (dispositions survive exec); a template reaps its
  // children automatically (SIGCHLD ignored): neither belongs to a container.
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void ContainAndExec(const ChildPlan& p) {
  ContainInChild(p);
  execve(p.path, p.argv, p.envp);
  FailSetup(kSetupErrorFd, errno, "execve(kiln-worker)");
}

}  // namespace kiln::sandbox
