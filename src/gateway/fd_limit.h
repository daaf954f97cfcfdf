// DESIGN: file descriptors for connections. Each connection holds one; the rest of
// the daemon (store, containers' pipes, zygotes, spooled uploads) needs a reserve.
// At start the soft RLIMIT_NOFILE is raised to the hard limit, and the node's
// connection cap is kept below what that allows, so the cap, not EMFILE, is what a
// flood of connections meets.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace kiln::gateway {

// Descriptors kept for everything but client connections.
inline constexpr uint64_t kFdReserve = 128;

// Raises the soft open-file limit to the hard one; returns the new soft limit.
Result<uint64_t> RaiseOpenFileLimit();

// The connection cap: `wanted`, lowered to what `fd_limit` descriptors allow.
size_t ConnectionCap(size_t wanted, uint64_t fd_limit);

}  // namespace kiln::gateway
