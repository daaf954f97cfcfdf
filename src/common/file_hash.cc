#include "common/file_hash.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "common/crypto.h"

namespace kiln {

Result<std::string> Sha256FileHex(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open(" + path + ")");
  Sha256 h;
  std::vector<char> buf(64 << 10);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = ErrnoStatus("read(" + path + ")");
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    h.Update({buf.data(), static_cast<size_t>(n)});
  }
  ::close(fd);
  return h.FinishHex();
}

}  // namespace kiln
