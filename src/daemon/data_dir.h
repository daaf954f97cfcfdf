// DESIGN: the data folder (`--data`) as the daemon takes hold of it at start, before
// anything in it is read or written:
//   1. the folder exists, mode 0700 (an existing one is chmod'ed): nothing under it is
//      for other users of the host;
//   2. <data>/kiln.lock is locked (flock, exclusive, held for the daemon's life) and
//      holds the daemon's pid: a second `kiln serve` on the same folder fails here,
//      naming the holder, having changed nothing;
//   3. the files holding secrets are 0600: kiln.db and its -wal and -shm (created 0600
//      before SQLite opens them; SQLite gives its side files the database's mode),
//      admin.key, secret.key.
// bundles/ and layers/ keep their read bits: a container's user (65534) reads them
// through its read-only bind mounts, and the 0700 folder keeps other users out.
// Called once, on the main thread, before the components are built.
#pragma once

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kiln::daemon {

// The held lock; released when the daemon's process ends (or this closes).
class DataDirLock {
 public:
  explicit DataDirLock(UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  UniqueFd fd_;
};

// Steps 1 to 3; the lock is held while the result lives.
Result<DataDirLock> TakeDataDir(const std::string& dir);

// The node key that seals secrets: <data>/secret.key, 32 random bytes, made 0600 on
// first start.
Result<std::string> LoadOrCreateNodeKey(const std::string& dir);

}  // namespace kiln::daemon
