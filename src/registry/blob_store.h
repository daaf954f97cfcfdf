// DESIGN: bundles stored content-addressed. A bundle archive's SHA-256 names the
// folder it unpacks to (<root>/<hex>); an upload of known bytes is a no-op. Unpacking
// goes to a temporary folder renamed into place, so a folder under its digest is
// always complete. Touches only the filesystem: safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "registry/bundle_extractor.h"

namespace kiln {

struct BlobInfo {
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;    // archive bytes
  int64_t files = 0;   // entries unpacked
};

class BlobStore {
 public:
  BlobStore(std::string root, ExtractLimits limits) : root_(std::move(root)), limits_(limits) {}

  Status Init();
  // Stores the archive file at `archive_path` (the caller keeps and removes it).
  Result<BlobInfo> PutFile(const std::string& archive_path);
  bool Has(const std::string& digest) const;
  // The unpacked folder of a digest ("sha256:<hex>").
  std::string PathOf(const std::string& digest) const;

 private:
  std::string root_;
  ExtractLimits limits_;
};

}  // namespace kiln
