#include "sandbox/leftovers.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <string>

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

Leftovers::Leftovers(const ContainerCgroup* group, pid_t worker)
    : group_(group),
      worker_(worker),
      task_dir_(::open(("/proc/" + std::to_string(worker) + "/task").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}

// procfs gives a process's task folder one link per thread besides "." and "..": a
// stat of a kept descriptor, with nothing formatted (/proc/<pid>/stat formats 52
// fields, which cost as much as the list this check saves).
std::optional<int64_t> Leftovers::WorkerThreads() const {
  if (!task_dir_.valid()) return std::nullopt;
  struct stat st {};
  if (::fstat(task_dir_.get(), &st) != 0 || st.st_nlink < 2) return std::nullopt;
  return static_cast<int64_t>(st.st_nlink) - 2;
}

bool Leftovers::OnlyTheWorker() const {
  const std::optional<int64_t> before = WorkerThreads();
  Result<int64_t> tasks = group_->TaskCount();
  const std::optional<int64_t> after = WorkerThreads();
  return before && tasks.ok() && after && *before == *after && *tasks == *before;
}

Result<size_t> Leftovers::Kill() {
  if (OnlyTheWorker()) return size_t{0};
  return KillLeftovers(*group_, worker_);
}

}  // namespace kiln::sandbox
