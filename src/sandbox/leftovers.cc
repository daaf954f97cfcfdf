#include "sandbox/leftovers.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <map>
#include <set>

#include "common/unique_fd.h"

namespace kiln::sandbox {
namespace {

constexpr int kMaxPasses = 16;

bool Listed(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

}  // namespace

Result<size_t> KillLeftovers(const ContainerCgroup& group, pid_t worker) {
  std::set<pid_t> seen;  // every leftover signalled so far
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    KILN_ASSIGN_OR_RETURN(std::vector<pid_t> listed, group.Procs());
    std::map<pid_t, UniqueFd> pinned;
    for (pid_t pid : listed) {
      if (pid == worker || seen.count(pid) > 0) continue;
      UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
      if (fd.valid()) pinned.emplace(pid, std::move(fd));  // else: it exited meanwhile
    }
    if (pinned.empty()) break;
    KILN_ASSIGN_OR_RETURN(std::vector<pid_t> again, group.Procs());
    for (auto& [pid, fd] : pinned) {
      if (!Listed(again, pid)) continue;  // gone, and the pid maybe someone else's now
      if (syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0) != 0 && errno != ESRCH) {
        return ErrnoStatus("pidfd_send_signal(" + std::to_string(pid) + ", SIGKILL)");
      }
      seen.insert(pid);
    }
  }
  return seen.size();
}

}  // namespace kiln::sandbox
