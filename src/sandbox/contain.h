// DESIGN: what a new container's process does between clone and exec, in this order
// (nsjail's contain.cc is the model):
//   1. lead its own process group, die with the daemon (PR_SET_PDEATHSIG);
//   2. wait until the daemon has put it into its cgroup (the "go" pipe), so no byte
//      of the handler's memory is allocated outside its limit;
//   3. namespaces: host name, loopback up; then the mount plan (new root, pivot);
//   4. resource limits (open files, no core dumps; the data segment where no memory
//      cgroup is there to enforce the limit);
//   5. descriptors: stdin /dev/null, stdout/stderr the log pipe, fd 3 the channel,
//      fd 4 the error pipe (close-on-exec); every other descriptor closed;
//   6. drop to the unprivileged user: no capabilities, no_new_privs;
//   7. seccomp, last (it denies what steps 3-6 needed);
//   8. execve the worker (ContainAndExec), or go on in the forked process itself
//      (ContainInChild: a child of a zygote or of a snapshot template, fork_server.h).
// A failing step writes {errno, call} to the error pipe and exits 125; the daemon
// reads the pipe, which closes without a byte at a successful exec (or when a forked
// child closes it after the last step). Only syscalls here: the daemon is
// multi-threaded, so the child must not allocate or lock.
#pragma once

#include <sys/resource.h>

#include <optional>

#include "sandbox/mounts.h"
#include "sandbox/privileges.h"
#include "sandbox/seccomp_policy.h"

namespace kiln::sandbox {

struct ChildPlan {
  int channel = -1, log_write = -1, go_read = -1, error_write = -1;
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  bool namespaces = false;
  const MountPlan* mounts = nullptr;
  std::optional<UnprivilegedIds> ids;
  const SeccompProgram* seccomp = nullptr;
  rlim_t open_files = kHandlerOpenFileLimit;
  rlim_t data_limit = 0;  // RLIMIT_DATA where no memory cgroup enforces the limit; 0: none
};

// What the error pipe carries when a step fails.
struct SetupFailure {
  int error = 0;
  char call[240] = {};
};

// Steps 1-7. Returns only when every step succeeded; the error pipe is then fd 4,
// still open (close it to tell the daemon the container is set up). A plan whose
// go_read is -1 has had its go already (a forked child reads its plan with it).
void ContainInChild(const ChildPlan& plan);

// Reports a failed step on the error pipe and exits 125.
[[noreturn]] void FailSetup(int error_fd, int error, const char* call);

[[noreturn]] void ContainAndExec(const ChildPlan& plan);

// Where the error pipe is after ContainInChild.
inline constexpr int kSetupErrorFd = 4;

}  // namespace kiln::sandbox
