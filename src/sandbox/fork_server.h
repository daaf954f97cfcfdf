// DESIGN: containers forked from a running worker instead of started from scratch
// (issue #7; SOCK's zygotes, SnapStart's snapshots, done with fork()).
//
// A fork source is a kiln-worker that serves FORK frames on its channel (fd 3):
//   - a layer zygote: CPython initialised and the layers' modules imported; it runs
//     as root in a private mount namespace (the layers under /opt, no network), so
//     its children can be cloned into their own namespaces and contain themselves
//     exactly like an exec'd worker (contain.h, steps 1-7), minus the exec. It is
//     in the daemon's PID namespace and clones with CLONE_PARENT: the daemon is the
//     child's parent, so it reaps and signals it like any worker;
//   - a snapshot template: a container whose init phase is done (the handler and its
//     model loaded). It is contained already, so its children share its namespaces
//     (root, /tmp, PID namespace: it is their PID 1) and only get their own cgroup,
//     process group, channel and logs. They are not the daemon's children: the
//     daemon tracks them with a pidfd, the template reaps them (SIGCHLD ignored).
//
// One fork, both sides, in two halves:
//   pending: the daemon makes a socketpair, a log pipe, a go pipe, an error pipe and
//     the container's cgroup, and sends FORK {who: namespaces, ids, seccomp} with the
//     child's four descriptors (SCM_RIGHTS); the source clone()s and answers FORKED
//     {pid}; the daemon moves the child into its cgroup. The child waits on its go
//     pipe. On cgroup v1 that move can wait for an RCU grace period (~10 ms after a
//     quiet spell), so a zygote keeps one such child ready (zygotes.h).
//   launch: the daemon sets the memory limit and writes go with {where: the mount
//     plan (the container's bundle), the memory fallback}; the child contains itself
//     (contain.h, steps 3-7), closes the error pipe and returns from ServeForks into
//     the worker's loop; the daemon waits for the error pipe to close (set up) or to
//     carry the failed call, as for a spawned worker (worker_spawner.h).
// The daemon side blocks (a fork and the child's setup take milliseconds); a source
// serves one FORK at a time.
#pragma once

#include <sys/types.h>

#include <functional>

#include "common/status.h"
#include "sandbox/worker_spawner.h"

namespace kiln::sandbox {

enum class ForkSourceKind { kZygote, kTemplate };

// A forked child waiting for its go: killed and reaped if never launched.
struct PendingWorker {
  PendingWorker() = default;
  PendingWorker(PendingWorker&& o) noexcept { *this = std::move(o); }
  PendingWorker& operator=(PendingWorker&& o) noexcept;  // `o` gives up its child
  ~PendingWorker();

  ForkSourceKind kind = ForkSourceKind::kZygote;
  WorkerProcess process;  // its cgroup created, attached by AttachPending
  UniqueFd go, errors;    // write end of its go pipe, read end of its error pipe
};

// Daemon side. `channel` is the source's channel, used blocking here (no async
// operation may be pending on it); `source_pid` its pid.
Result<PendingWorker> ForkPending(int channel, pid_t source_pid, ForkSourceKind kind, const std::string& id,
                                  int64_t memory_mb, const Sandbox* sandbox);
// Moves it into its cgroup; may run on another thread than the pending's owner.
Status AttachPending(PendingWorker& pending);
// Sets the memory limit, sends the plan for `binds` with go, waits until it is set up.
Result<WorkerProcess> Launch(PendingWorker pending, const std::vector<BindMount>& binds, int64_t memory_mb,
                             const Sandbox* sandbox);
// All three in a row: the spawn spec's id, memory limit and binds are the child's.
Result<WorkerProcess> ForkWorker(int channel, pid_t source_pid, ForkSourceKind kind, const SpawnSpec& spec,
                                 const Sandbox* sandbox);

// Source side, on fd 3, holding whatever lock the caller needs around a fork
// (`before_fork` / `after_fork_in_parent`). Returns true in a child that is set up
// (fd 3 is its own channel now), false when the daemon closed the channel.
struct ForkHooks {
  std::function<void()> before_fork;
  std::function<void()> after_fork_in_parent;
};
Result<bool> ServeForks(ForkSourceKind kind, const ForkHooks& hooks);

}  // namespace kiln::sandbox
