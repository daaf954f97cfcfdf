// DESIGN: starts a worker process, contained as far as this host allows. The child
// gets exactly five descriptors: stdin from /dev/null, stdout and stderr on the log
// pipe, the channel on fd 3, and (until its exec) the setup-error pipe on fd 4, so no
// descriptor of the daemon leaks into user code. It leads its own process group (a
// timeout kills the whole tree with one killpg) and dies with the daemon
// (PR_SET_PDEATHSIG).
//
// With a Sandbox (sandbox.h) the child is cloned into its own namespaces, put into
// its own cgroup before it runs a single instruction of its own (the go pipe), and
// contained step by step (contain.h). A setup failure comes back as an error naming
// the failed call, never as a worker that silently runs uncontained.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "sandbox/cgroup.h"
#include "sandbox/mounts.h"

namespace kiln::sandbox {

class Sandbox;

// Where a start's time went before the worker ran a line of its own (issue #15's
// cold-start phases), in milliseconds of the daemon's clock:
//   fork: making the process: its cgroup, the clone (or a fork source's FORKED) and
//     its move into the cgroup; near zero for a spare child forked beforehand;
//   sandbox: containing it: its go, then namespaces, mounts, limits and seccomp in the
//     child, until its setup report.
struct StartPhases {
  double fork_ms = 0;
  double sandbox_ms = 0;
};

struct WorkerProcess {
  std::string id;  // the container's (its cgroup's name)
  pid_t pid = -1;
  UniqueFd channel;  // the daemon's end of the socketpair
  UniqueFd logs;     // read end of the stdout/stderr pipe
  std::unique_ptr<ContainerCgroup> cgroup;  // null where cgroups are missing
  // Set only for a process that is not the daemon's child (a snapshot template's
  // child, fork_server.h): it is watched and signalled through this pidfd.
  UniqueFd pidfd;
  StartPhases phases;
};

// A zygote serves forks instead of running a handler: its own namespaces but the
// daemon's PID namespace, layers under /opt, root kept (its children drop it).
enum class WorkerRole { kContainer, kZygote };

struct SpawnSpec {
  std::string worker_path;
  std::vector<std::string> env;  // "K=V"
  std::string container_id;
  int64_t memory_mb = 256;
  std::vector<BindMount> binds;  // the bundle at /var/task, layers under /opt
  WorkerRole role = WorkerRole::kContainer;
};

// `sandbox` may be null: a plain child process (used by tests of the protocol).
Result<WorkerProcess> SpawnWorker(const SpawnSpec& spec, const Sandbox* sandbox);

// SIGKILL to the worker's process group, then reap it (or, with a pidfd, wait until
// it is gone). Returns how it ended.
std::string KillAndReap(pid_t pid, int pidfd = -1);

// If the worker has exited on its own, reaps it and says how; else nullopt.
std::optional<std::string> ReapIfExited(pid_t pid, int pidfd = -1);

// For a worker its pidfd says has exited: reaps it when it is the daemon's own child
// (`reap`) and says how it ended; `killed`: the daemon sent it SIGKILL (what a
// template's child is known by: its exit status goes to its template). Never waits.
std::string CollectExit(pid_t pid, bool reap, bool killed);

// Shared with fork_server.cc: the descriptors a new worker gets, and the wait for
// its setup report.
struct Pipe {
  UniqueFd read, write;
};
Result<Pipe> MakePipe();
Result<std::pair<UniqueFd, UniqueFd>> MakeChannel();  // {daemon's end, worker's end}
// Nothing on the error pipe before it closes is success.
Status AwaitSetup(int error_read, pid_t pid);

}  // namespace kiln::sandbox
