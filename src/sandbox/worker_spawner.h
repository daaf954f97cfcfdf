// DESIGN: starts a worker process. The child gets exactly four descriptors: stdin
// from /dev/null, stdout and stderr on the log pipe, the channel on fd 3; everything
// else is closed before exec, so no descriptor of the daemon leaks into user code.
// The child leads its own process group (a timeout kills the whole tree with one
// killpg) and dies with the daemon (PR_SET_PDEATHSIG).
//
// The isolation issue adds namespaces, mounts, cgroups and seccomp here, each in a
// file of its own, applied in the child between fork and exec.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kiln::sandbox {

struct WorkerProcess {
  pid_t pid = -1;
  UniqueFd channel;  // the daemon's end of the socketpair
  UniqueFd logs;     // read end of the stdout/stderr pipe
};

struct SpawnSpec {
  std::string worker_path;
  std::vector<std::string> env;  // "K=V"
};

Result<WorkerProcess> SpawnWorker(const SpawnSpec& spec);

// SIGKILL to the worker's process group, then reap it. Returns how it ended.
std::string KillAndReap(pid_t pid);

// If the worker has exited on its own, reaps it and says how; else nullopt.
std::optional<std::string> ReapIfExited(pid_t pid);

}  // namespace kiln::sandbox
