// Packs a bundle folder into a tar.gz in memory with libarchive. The archive is
// reproducible (sorted entries, zeroed times and owners), so deploying an unchanged
// folder uploads the same digest. Skips what never belongs in a bundle: VCS folders,
// __pycache__, *.pyc.
#pragma once

#include <string>

#include "common/status.h"

namespace kiln::cli {

struct PackedBundle {
  std::string bytes;
  int64_t files = 0;
};

Result<PackedBundle> PackDirectory(const std::string& dir);

}  // namespace kiln::cli
