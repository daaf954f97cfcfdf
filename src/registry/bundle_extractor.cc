#include "registry/bundle_extractor.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <vector>

namespace kiln {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    start = end + 1;
  }
  return parts;
}

// libarchive's message for the last error of `a`: it has none for some failures.
std::string ErrorText(archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown libarchive error";
}

struct ReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};

class Extraction {
 public:
  Extraction(const std::string& dest, const ExtractLimits& limits) : dest_(dest), limits_(limits) {}

  // The archive is `bytes`, or the file at `path` when that is given (read in pieces).
  Result<ExtractStats> Run(std::string_view bytes, const std::string* path) {
    std::unique_ptr<archive, ReadCloser> in(archive_read_new());
    archive_read_support_format_tar(in.get());
    archive_read_support_format_zip(in.get());
    archive_read_support_filter_gzip(in.get());
    const int opened = path != nullptr ? archive_read_open_filename(in.get(), path->c_str(), 64 << 10)
                                       : archive_read_open_memory(in.get(), bytes.data(), bytes.size());
    if (opened != ARCHIVE_OK) {
      return InvalidArgument("bundle is not a tar.gz or zip archive: " + ErrorText(in.get()));
    }
    std::unique_ptr<archive, WriteCloser> out(archive_write_disk_new());
    // libarchive's own guards as a second line behind the checks below. (Not
    // SECURE_NOABSOLUTEPATHS: entries are written to absolute paths under dest_.)
    archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                  ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    for (;;) {
      archive_entry* entry = nullptr;
      int rc = archive_read_next_header(in.get(), &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) {
        return InvalidArgument("bundle archive is corrupt: " + ErrorText(in.get()));
      }
      KILN_RETURN_IF_ERROR(ExtractEntry(in.get(), out.get(), entry));
    }
    return stats_;
  }

 private:
  Status Refuse(std::string_view path, const std::string& why) {
    return InvalidArgument("bundle entry '" + std::string(path) + "' refused: " + why);
  }

  Status ExtractEntry(archive* in, archive* out, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    const std::string path = raw ? raw : "";  // a copy: the entry's name is rewritten below
    if (!path.empty() && path.front() == '/') return Refuse(path, "absolute path");
    if (!IsSafeRelativePath(path)) {
      if (Split(path).empty()) return OkStatus();  // "./": the root itself
      return Refuse(path, "path leaves the bundle ('..')");
    }
    if (archive_entry_hardlink(entry) != nullptr) return Refuse(path, "hard links are not allowed");
    mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      if (target == nullptr || !SymlinkStaysInside(path, target)) {
        return Refuse(path, std::string("symlink to '") + (target ? target : "") +
                                "' leaves the bundle");
      }
    } else if (type != AE_IFREG && type != AE_IFDIR) {
      return Refuse(path, "only files, folders and symlinks are allowed");
    }
    if (++stats_.files > limits_.max_files) {
      return InvalidArgument("bundle has more than " + std::to_string(limits_.max_files) +
                             " entries (the file-count cap)");
    }
    if (type == AE_IFREG && archive_entry_size(entry) > limits_.max_bytes - stats_.bytes) {
      return SizeCap();
    }
    std::string full = dest_ + "/" + std::string(path);
    archive_entry_set_pathname(entry, full.c_str());
    // Bundles are read-only code and data: drop set-id bits, keep the exec bit.
    mode_t perm = archive_entry_perm(entry);
    archive_entry_set_perm(entry, type == AE_IFDIR ? 0755 : ((perm & 0111) ? 0755 : 0644));
    if (archive_write_header(out, entry) != ARCHIVE_OK) {
      return Refuse(path, ErrorText(out));
    }
    if (type == AE_IFREG) KILN_RETURN_IF_ERROR(CopyData(in, out, path));
    if (archive_write_finish_entry(out) != ARCHIVE_OK) return Refuse(path, ErrorText(out));
    return OkStatus();
  }

  Status CopyData(archive* in, archive* out, std::string_view path) {
    for (;;) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      int rc = archive_read_data_block(in, &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) return OkStatus();
      if (rc < ARCHIVE_WARN) return Refuse(path, ErrorText(in));
      // Count what is really unpacked: a header's size field can lie.
      stats_.bytes += static_cast<int64_t>(size);
      if (stats_.bytes > limits_.max_bytes) return SizeCap();
      if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN) {
        return Refuse(path, ErrorText(out));
      }
    }
  }

  Status SizeCap() {
    return InvalidArgument("bundle unpacks to more than " +
                           std::to_string(limits_.max_bytes >> 20) + " MiB (the size cap)");
  }

  std::string dest_;
  ExtractLimits limits_;
  ExtractStats stats_;
};

}  // namespace

bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  auto parts = Split(path);
  if (parts.empty()) return false;
  for (auto p : parts) {
    if (p == "..") return false;
  }
  return true;
}

bool SymlinkStaysInside(std::string_view entry, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  auto parts = Split(entry);
  if (!parts.empty()) parts.pop_back();  // the link's own name
  int depth = static_cast<int>(parts.size());
  bool descended = false;
  for (auto p : Split(target)) {
    // A ".." after a name climbs out of whatever that name is: another link ("s" ->
    // ".") may not be a level down, so "s/.." could leave the bundle.
    if (p == ".." && descended) return false;
    descended = descended || p != "..";
    depth += (p == "..") ? -1 : 1;
    if (depth < 0) return false;
  }
  return true;
}

namespace {

Result<ExtractStats> Extract(std::string_view bytes, const std::string* path, const std::string& dest,
                             const ExtractLimits& limits) {
  std::error_code ec;
  if (!std::filesystem::create_directory(dest, ec)) {
    return Internal("mkdir " + dest + ": " + (ec ? ec.message() : "exists already"));
  }
  Extraction x(dest, limits);
  auto r = x.Run(bytes, path);
  if (!r.ok()) std::filesystem::remove_all(dest, ec);
  return r;
}

}  // namespace

Result<ExtractStats> ExtractBundle(std::string_view archive, const std::string& dest,
                                   const ExtractLimits& limits) {
  return Extract(archive, nullptr, dest, limits);
}

Result<ExtractStats> ExtractBundleFile(const std::string& archive_path, const std::string& dest,
                                       const ExtractLimits& limits) {
  return Extract({}, &archive_path, dest, limits);
}

}  // namespace kiln
