// DESIGN: cgroup budgets for containers: a memory limit with swap off and a pids limit,
// plus the two facts the daemon reads back after a run: peak memory and whether the
// kernel OOM-killed something.
//
// Model: CgroupManager::Detect() runs once at daemon start and picks one of two
// implementations behind this interface: cgroup v2 when the unified hierarchy offers the
// memory controller to the daemon's own cgroup, else cgroup v1 when a memory hierarchy
// is mounted. It creates one parent group "<prefix>-<daemon pid>" beneath the daemon's
// own cgroup in each hierarchy it uses (delegation only lets us write below where we
// already are). Each container gets a child of that parent named after its id:
//   v1: <memory mount>/<own path>/kiln-123/<id> and <pids mount>/<own path>/kiln-123/<id>
//   v2: <unified mount>/<own path>/kiln-123/<id>
// Memory is required; the pids limit is used where its controller is available, and
// pids_status() says why when it is not, so `kiln doctor` can report each piece.
// On v2 the daemon usually sits in its own cgroup, and v2 lets a group enable controllers
// for its children only while it holds no processes; so Detect moves the daemon into a
// leaf, <own path>/kiln-123-daemon, as nsjail does, and the manager's destructor moves it
// back. describe() says so when it happened.
//
// Threads: not thread-safe and takes no locks: the daemon's I/O thread owns the manager
// and every ContainerCgroup (a group no other thread can reach may be attached from a
// helper thread: a migration can wait for an RCU grace period, milliseconds). The caller forks the worker, which waits on its channel,
// and calls Attach() from the parent before letting it run, so no code of the handler
// runs outside its limits.
//
// Guarantees: nothing is left on the host. Destroying a ContainerCgroup kills whatever
// still runs inside and removes its directories (bounded to about a second); destroying
// the manager does the same for any group still under its parent(s), then removes the
// parent(s). Read PeakBytes()/OomKilled() before Destroy(): they read the group's files.
// Every error names the file, the value written and errno. (A daemon killed by SIGKILL
// leaves its groups behind; a parent left by a dead daemon whose pid we now have is
// emptied and reused by Detect.)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kiln::sandbox {

// One container's group(s): one directory per hierarchy (v1: memory and pids; v2: one).
class ContainerCgroup {
 public:
  ContainerCgroup() = default;
  ContainerCgroup(const ContainerCgroup&) = delete;
  ContainerCgroup& operator=(const ContainerCgroup&) = delete;
  virtual ~ContainerCgroup() = default;  // implementations call Destroy()

  // Moves `pid` (all its threads) into the group in every hierarchy. On error it may sit
  // in some hierarchies and not others: kill it rather than run it.
  virtual Status Attach(pid_t pid) = 0;
  // Changes the memory limit (a zygote's spare child gets its container's on launch).
  virtual Status SetMemoryLimit(int64_t bytes) = 0;
  // What the group is charged now (memory.usage_in_bytes, memory.current): its private
  // memory, the figure its limit applies to. Pages of a zygote it has not written are
  // charged to the zygote's group, not here.
  virtual std::optional<int64_t> CurrentBytes() const = 0;
  // The highest memory use the kernel recorded, when this kernel records one.
  virtual std::optional<int64_t> PeakBytes() const = 0;
  // True once the kernel's OOM killer has killed a process of this group.
  virtual bool OomKilled() const = 0;
  // The processes inside now (host pids; exited ones the kernel already dropped).
  virtual Result<std::vector<pid_t>> Procs() const = 0;
  // The tasks (threads) the pids controller counts inside now, read through a
  // descriptor kept open (pids.current); NotFound without the pids controller.
  // Cheaper than Procs(): no open, no pid list (on v1 one is built at every open).
  virtual Result<int64_t> TaskCount() const = 0;
  // Kills every process inside, then removes the directories. Idempotent.
  virtual Status Destroy() = 0;
  // The directories still owned (for logs); empty after a successful Destroy().
  virtual const std::vector<std::string>& dirs() const = 0;
};

class CgroupManager {
 public:
  // Picks v2 or v1 from /proc/self/mountinfo and /proc/self/cgroup, and creates
  // "<name_prefix>-<getpid()>" beneath this process's own cgroup(s). The error says why
  // neither works (which file, which errno), ready for "cgroup memory: missing (<why>)".
  static Result<std::unique_ptr<CgroupManager>> Detect(const std::string& name_prefix);

  CgroupManager() = default;
  CgroupManager(const CgroupManager&) = delete;
  CgroupManager& operator=(const CgroupManager&) = delete;
  virtual ~CgroupManager() = default;  // implementations remove their parent group(s)

  // E.g. "cgroup v1 (memory: /sys/fs/cgroup/memory/a/kiln-123, pids: ...)".
  virtual std::string describe() const = 0;
  // OK when Create() enforces pids_max; otherwise why it cannot.
  virtual const Status& pids_status() const = 0;

  // Makes the container's group(s) and writes the limits; swap is off. `container_id`
  // must be one path component. Fails if a group of that id exists already.
  virtual Result<std::unique_ptr<ContainerCgroup>> Create(const std::string& container_id,
                                                          int64_t memory_bytes,
                                                          int64_t pids_max) = 0;
};

}  // namespace kiln::sandbox
