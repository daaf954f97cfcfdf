// DESIGN: nothing of a container runs while it is idle (issue #14, defect 10). When a
// run ends (and when the init phase ends), every process in the container's cgroup
// but its worker is killed: whatever the handler forked, spawned or daemonized and left
// behind. The daemon says so in that run's logs ("killed 8 leftover processes").
//
// Why kill rather than freeze (Lambda freezes its environments): a frozen leftover
// still holds memory and pids of the container's budget, grows with every run that
// leaves one, and wakes at the next request to compete with it for the container's
// CPU; killing is deterministic, needs no freezer hierarchy (cgroup v1 mounts it
// apart), and costs the warm path three cheap calls on descriptors kept open when
// nothing is left behind (below). A handler's contract is a request and its answer; helpers
// it needs across runs are threads (onnxruntime's and numpy's are), not processes.
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
// The common case costs a read and two stats of descriptors kept open, and no list
// (Leftovers): the tasks the pids controller counts in the group (pids.current) against
// the worker's own threads (the link count of /proc/<worker>/task, taken before and
// after). Equal, and the worker's thread count the same before and after the group's
// count was read: nothing but the worker is inside, and nothing is listed. Otherwise (a
// process, a zombie not yet reaped, a thread count that moved, no pids controller) the
// full pass above runs. The only miss is a worker whose threads shrink and grow back by
// exactly the leftovers' task count between those reads; that leftover is found when
// the next run ends.
//
// Threads: called on the daemon's I/O thread; the reads are of cgroupfs and procfs.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/status.h"
#include "common/unique_fd.h"
#include "sandbox/cgroup.h"

namespace kiln::sandbox {

// SIGKILL to every process of `group` except `worker`; returns how many there were.
Result<size_t> KillLeftovers(const ContainerCgroup& group, pid_t worker);

// One container's check, with its descriptors kept open from the container's start.
class Leftovers {
 public:
  // `group` must outlive this; `worker` is the container's worker (host pid).
  Leftovers(const ContainerCgroup* group, pid_t worker);

  // KillLeftovers, when the cheap check says something besides the worker may be inside.
  Result<size_t> Kill();

 private:
  // True when the group holds the worker's threads and nothing else (see above).
  bool OnlyTheWorker() const;
  std::optional<int64_t> WorkerThreads() const;

  const ContainerCgroup* group_;
  pid_t worker_;
  UniqueFd task_dir_;  // /proc/<worker>/task
};

}  // namespace kiln::sandbox
