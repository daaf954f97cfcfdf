// DESIGN: unpacks a user's bundle archive (tar.gz or zip, detected by content) into
// a fresh folder, refusing anything that could write outside it or smuggle in more
// than a bundle: absolute paths, ".." components, links that leave the bundle, hard
// links, devices, FIFOs and sockets, and archives over the size or file-count caps.
// On refusal the partial folder is removed and the error names the entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kiln {

struct ExtractLimits {
  int64_t max_bytes = 512ll << 20;  // unpacked
  int64_t max_files = 20000;
};

struct ExtractStats {
  int64_t files = 0;
  int64_t bytes = 0;
};

// `dest` must not exist yet; it is created.
Result<ExtractStats> ExtractBundle(std::string_view archive, const std::string& dest,
                                   const ExtractLimits& limits);
// The same, from an archive file (read in pieces, never whole into memory).
Result<ExtractStats> ExtractBundleFile(const std::string& archive_path, const std::string& dest,
                                       const ExtractLimits& limits);

// Lexical path checks: relative, no "..", not empty.
bool IsSafeRelativePath(std::string_view path);
// Does a symlink at `entry` pointing to `target` stay inside the bundle? Its ".."s
// must come first (the entry's folders are real ones), as no other link is trusted.
bool SymlinkStaysInside(std::string_view entry, std::string_view target);

}  // namespace kiln
