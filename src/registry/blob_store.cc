#include "registry/blob_store.h"

#include <cstdio>
#include <filesystem>

#include "common/crypto.h"
#include "common/file_hash.h"

namespace kiln {
namespace fs = std::filesystem;

namespace {
constexpr std::string_view kPrefix = "sha256:";

std::string HexOf(const std::string& digest) {
  return digest.substr(0, kPrefix.size()) == kPrefix ? digest.substr(kPrefix.size()) : "";
}
}  // namespace

Status BlobStore::Init() {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return Internal("mkdir " + root_ + ": " + ec.message());
  // Leftovers of uploads interrupted by a crash.
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove_all(e.path(), ec);
  }
  return OkStatus();
}

std::string BlobStore::PathOf(const std::string& digest) const {
  return root_ + "/" + HexOf(digest);
}

bool BlobStore::Has(const std::string& digest) const {
  std::string hex = HexOf(digest);
  std::error_code ec;
  return hex.size() == 64 && fs::is_directory(root_ + "/" + hex, ec);
}

Result<BlobInfo> BlobStore::PutFile(const std::string& archive_path) {
  KILN_ASSIGN_OR_RETURN(std::string hex, Sha256FileHex(archive_path));
  std::error_code ec;
  const auto size = fs::file_size(archive_path, ec);
  if (ec) return Internal("stat " + archive_path + ": " + ec.message());
  BlobInfo info{std::string(kPrefix) + hex, static_cast<int64_t>(size), 0};
  std::string final_dir = PathOf(info.digest);
  if (fs::is_directory(final_dir, ec)) {
    for (auto it = fs::recursive_directory_iterator(final_dir, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      ++info.files;
    }
    return info;
  }
  std::string tmp = root_ + "/.tmp-" + RandomAlnum(12);
  KILN_ASSIGN_OR_RETURN(ExtractStats stats, ExtractBundleFile(archive_path, tmp, limits_));
  info.files = stats.files;
  if (std::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    int err = errno;
    fs::remove_all(tmp, ec);
    // Another upload of the same bytes won the race: its folder is as good as ours.
    if (!fs::is_directory(final_dir, ec)) return ErrnoStatus("rename " + tmp + " " + final_dir, err);
  }
  return info;
}

}  // namespace kiln
