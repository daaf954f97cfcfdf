#include "daemon/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <cerrno>
#include <filesystem>

namespace kiln::daemon {
namespace {

namespace fs = std::filesystem;

constexpr size_t kNodeKeyBytes = 32;

Status MakePrivateFolder(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("mkdir " + dir + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return ErrnoStatus("chmod(" + dir + ", 0700)");
  return OkStatus();
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size()))) > 0) out.append(buf, n);
  return out;
}

Result<DataDirLock> Lock(const std::string& dir) {
  const std::string path = dir + "/kiln.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("open(" + path + ")");
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return ErrnoStatus("flock(" + path + ", LOCK_EX)");
    std::string holder = ReadAll(fd.get());
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Status(Code::kConflict, "another kiln serve (pid " + (holder.empty() ? "unknown" : holder) +
                                       ") is using the data folder " + dir +
                                       "; stop it, or give this one another --data");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0) return ErrnoStatus("ftruncate(" + path + ")");
  if (::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return ErrnoStatus("write(" + path + ")");
  }
  if (::fchmod(fd.get(), 0600) != 0) return ErrnoStatus("fchmod(" + path + ", 0600)");
  return DataDirLock(std::move(fd));
}

// Each file exists with mode 0600 (created empty if missing, where `create`).
Status MakePrivateFile(const std::string& path, bool create) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600));
  if (!fd.valid()) {
    if (errno == ENOENT && !create) return OkStatus();
    return ErrnoStatus("open(" + path + ")");
  }
  if (::fchmod(fd.get(), 0600) != 0) return ErrnoStatus("fchmod(" + path + ", 0600)");
  return OkStatus();
}

}  // namespace

Result<DataDirLock> TakeDataDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("mkdir " + dir + ": " + ec.message());
  KILN_ASSIGN_OR_RETURN(DataDirLock lock, Lock(dir));
  KILN_RETURN_IF_ERROR(MakePrivateFolder(dir));
  KILN_RETURN_IF_ERROR(MakePrivateFile(dir + "/kiln.db", true));
  for (const char* name : {"kiln.db-wal", "kiln.db-shm", "admin.key", "secret.key"}) {
    KILN_RETURN_IF_ERROR(MakePrivateFile(dir + "/" + name, false));
  }
  return lock;
}

Result<std::string> LoadOrCreateNodeKey(const std::string& dir) {
  const std::string path = dir + "/secret.key";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.valid()) {
    std::string key = ReadAll(fd.get());
    if (key.size() != kNodeKeyBytes) {
      return Internal(path + " holds " + std::to_string(key.size()) + " bytes, not the " +
                      std::to_string(kNodeKeyBytes) + " of a node key: restore it from a backup");
    }
    return key;
  }
  if (errno != ENOENT) return ErrnoStatus("open(" + path + ")");
  std::string key(kNodeKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return Internal("RAND_bytes: no randomness for the node key");
  }
  // Written beside, then renamed: a crash never leaves a short key behind.
  const std::string tmp = path + ".tmp";
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!out.valid()) return ErrnoStatus("open(" + tmp + ", 0600)");
  if (::fchmod(out.get(), 0600) != 0) return ErrnoStatus("fchmod(" + tmp + ", 0600)");
  if (::write(out.get(), key.data(), key.size()) != static_cast<ssize_t>(key.size())) {
    return ErrnoStatus("write(" + tmp + ")");
  }
  if (::fsync(out.get()) != 0) return ErrnoStatus("fsync(" + tmp + ")");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename(" + tmp + ", " + path + ")");
  return key;
}

}  // namespace kiln::daemon
