// DESIGN: the namespaces a container gets (SPEC §7): mount, PID, IPC, UTS and network.
// The daemon clones the worker straight into them (kCloneFlags); the child then
// names its host ("kiln") and brings up its loopback, the only interface of its
// network namespace, so a handler can talk to itself and to nothing else: not the
// internet, not the daemon's port, not the host's other services.
// ConfigureInChild runs between clone and exec: syscalls only.
#pragma once

#include <sched.h>

namespace kiln::sandbox {

constexpr int kCloneFlags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;

// Returns 0, or an errno with *failed naming the call.
int ConfigureNamespacesInChild(const char** failed);

}  // namespace kiln::sandbox
