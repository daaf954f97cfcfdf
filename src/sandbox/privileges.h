// DESIGN: who the handler runs as, and what it may ask of the kernel.
//
// Model: the daemon runs as root; each container child gives up everything root
// gives before it execs the worker. It loses its capabilities for good (bounding set
// emptied, so no exec can bring them back), its supplementary groups, and uid/gid 0
// in all three slots (real, effective, saved), so it cannot switch back; and it sets
// no_new_privs, so setuid binaries and file capabilities give it nothing. The handler
// never runs as uid 0 or gid 0: the child-side call refuses to.
//
// Where it runs:
//  - Parent (the daemon, any thread, any time): PickUnprivilegedIds() reads the user
//    database, which allocates and takes locks, so it runs before fork.
//  - Child, between fork and exec: DropPrivilegesInChild() and
//    SetResourceLimitsInChild() are async-signal-safe: raw system calls only, no
//    allocation, no lock. They return 0, or an errno with *failed_call set to a static
//    string naming the call (the caller adds the numbers it passed, e.g. "setresuid"
//    with uid 65534 becomes "setresuid(65534): Operation not permitted").
//
// Order in the child: namespace and mount setup (they need root), then
// SetResourceLimitsInChild() (raising a hard limit needs CAP_SYS_RESOURCE), then
// DropPrivilegesInChild(), then the seccomp filter, then execve. The ids must be
// mapped in the child's user namespace, if it has one.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace kiln::sandbox {

struct UnprivilegedIds {
  uid_t uid;
  gid_t gid;
};

// The number of open descriptors a handler may hold (the RLIMIT_NOFILE).
inline constexpr rlim_t kHandlerOpenFileLimit = 1024;

// Parent side. The ids of `user` in the user database. NotFound if there is no such
// user; InvalidArgument if its uid or gid is 0, since a handler must never run as root.
Result<UnprivilegedIds> LookupUnprivilegedUser(const std::string& user);

// Parent side. The ids handlers run as: "nobody" (on Debian 65534, with its group
// nogroup), or 65534:65534 where the user database has no "nobody".
Result<UnprivilegedIds> PickUnprivilegedIds();

// Child side; async-signal-safe. Must start as root (in the current user namespace).
// Empties the capability bounding set and ambient set, drops supplementary groups,
// sets real/effective/saved gid then uid, clears any capability left, sets
// no_new_privs, and checks that uid, gid and capabilities read back as asked.
// Refuses uid 0 or gid 0 with EINVAL.
int DropPrivilegesInChild(uid_t uid, gid_t gid, const char** failed_call);

// Child side; async-signal-safe. RLIMIT_NOFILE to `open_files` (soft and hard, so
// the handler cannot raise it) and RLIMIT_CORE to 0: no core dumps. Leaves the
// process dumpable, since PR_SET_DUMPABLE 0 would make /proc/self root-owned and
// unreadable to the handler.
int SetResourceLimitsInChild(rlim_t open_files, const char** failed_call);

}  // namespace kiln::sandbox
