#include "cli/bundle_packer.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace kiln::cli {
namespace fs = std::filesystem;

namespace {

bool Skipped(const fs::path& rel) {
  for (const auto& part : rel) {
    std::string p = part.string();
    if (p == ".git" || p == ".hg" || p == "__pycache__" || p == ".venv") return true;
  }
  return rel.extension() == ".pyc";
}

la_ssize_t AppendTo(archive*, void* out, const void* data, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

}  // namespace

Result<PackedBundle> PackDirectory(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    fs::path rel = fs::relative(it->path(), dir, ec);
    if (Skipped(rel)) {
      if (it->is_directory() && !it->is_symlink()) it.disable_recursion_pending();
      continue;
    }
    entries.push_back(rel);
  }
  if (ec) return InvalidArgument("cannot read " + dir + ": " + ec.message());
  std::sort(entries.begin(), entries.end());

  PackedBundle out;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);  // no mtime in the header
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out.bytes, nullptr, AppendTo, nullptr) != ARCHIVE_OK) {
    return Internal(std::string("archive: ") + archive_error_string(a.get()));
  }
  for (const auto& rel : entries) {
    fs::path full = fs::path(dir) / rel;
    fs::file_status st = fs::symlink_status(full, ec);
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), rel.string().c_str());
    archive_entry_set_mtime(e.get(), 0, 0);
    std::string content;
    if (fs::is_symlink(st)) {
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_perm(e.get(), 0777);
      archive_entry_set_symlink(e.get(), fs::read_symlink(full, ec).string().c_str());
    } else if (fs::is_directory(st)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      archive_entry_set_perm(e.get(), 0755);
    } else if (fs::is_regular_file(st)) {
      std::ifstream in(full, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      content = ss.str();
      bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_perm(e.get(), exec ? 0755 : 0644);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
      ++out.files;
    } else {
      continue;  // sockets, FIFOs: not bundle material
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        (!content.empty() && archive_write_data(a.get(), content.data(), content.size()) < 0)) {
      return Internal("archive " + rel.string() + ": " + archive_error_string(a.get()));
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Internal(std::string("archive: ") + archive_error_string(a.get()));
  }
  return out;
}

}  // namespace kiln::cli
