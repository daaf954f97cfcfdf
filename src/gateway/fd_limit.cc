#include "gateway/fd_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace kiln::gateway {

Result<uint64_t> RaiseOpenFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return ErrnoStatus("getrlimit(RLIMIT_NOFILE)");
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised{lim.rlim_max, lim.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      return ErrnoStatus("setrlimit(RLIMIT_NOFILE, " + std::to_string(lim.rlim_max) + ")");
    }
    lim = raised;
  }
  return static_cast<uint64_t>(lim.rlim_cur);
}

size_t ConnectionCap(size_t wanted, uint64_t fd_limit) {
  const uint64_t allowed = fd_limit > 2 * kFdReserve ? fd_limit - kFdReserve : fd_limit / 2;
  return static_cast<size_t>(std::min<uint64_t>(wanted, allowed));
}

}  // namespace kiln::gateway
