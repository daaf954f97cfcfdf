#include "sandbox/namespaces.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kiln::sandbox {
namespace {

int LoopbackUp() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ifreq req;
  std::memset(&req, 0, sizeof req);
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(fd, SIOCGIFFLAGS, &req);
  if (rc == 0) {
    req.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(fd, SIOCSIFFLAGS, &req);
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

}  // namespace

int ConfigureNamespacesInChild(const char** failed) {
  static const char kHostname[] = "kiln";
  if (sethostname(kHostname, sizeof kHostname - 1) != 0) {
    *failed = "sethostname(kiln)";
    return errno;
  }
  if (LoopbackUp() != 0) {
    *failed = "ioctl(lo, SIOCSIFFLAGS, IFF_UP)";
    return errno;
  }
  return 0;
}

}  // namespace kiln::sandbox
