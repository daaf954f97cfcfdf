// What the kernel says about a live process's memory (/proc/<pid>/status).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace kiln::sandbox {

// Resident set size in KiB (VmRSS); nullopt when the process is gone.
std::optional<int64_t> ResidentKb(pid_t pid);

}  // namespace kiln::sandbox
