// DESIGN: nothing of a container runs while it is idle (issue #14, defect 10). When a
// run ends (and when the init phase ends), every process in the container's cgroup
// but its worker is killed: whatever the handler forked, spawned or daemonized and left
// behind. The daemon says so in that run's logs ("killed 8 leftover processes").
//
// Why kill rather than freeze (Lambda freezes its environments): a frozen leftover
// still holds memory and pids of the container's budget, grows with every run that
// leaves one, and wakes at the next request to compete with it for the container's
// CPU; killing is deterministic, needs no freezer hierarchy (cgroup v1 mounts it
// apart), and costs the warm path one read of cgroup.procs when nothing is left
// behind. A handler's contract is a request and its answer; helpers it needs across
// runs are threads (onnxruntime's and numpy's are), not processes.
//
// The same for every kind of container: a plain one, one forked from a zygote and one
// forked from a snapshot template each have a cgroup of their own, and only their own
// processes are in it (a template's other children are in theirs).
//
// Race-free against pid reuse: each listed pid is pinned with a pidfd, the list read
// again, and only pinned processes still listed are signalled. A process forking as
// it is killed is caught by the next pass; passes stop once one finds nobody new
// (bounded, and pids.max bounds a fork bomb). The killed ones' zombies are the
// worker's to reap (it does before its next invocation).
//
// Threads: called on the daemon's I/O thread; the reads are of cgroupfs (no disk).
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "common/status.h"
#include "sandbox/cgroup.h"

namespace kiln::sandbox {

// SIGKILL to every process of `group` except `worker`; returns how many there were.
Result<size_t> KillLeftovers(const ContainerCgroup& group, pid_t worker);

}  // namespace kiln::sandbox
