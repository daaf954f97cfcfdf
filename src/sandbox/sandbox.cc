#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "sandbox/namespaces.h"

namespace kiln::sandbox {
namespace {

struct Probe {
  const char* name;
  int flag;
};
constexpr Probe kNamespaces[] = {{"mount namespace", CLONE_NEWNS}, {"pid namespace", CLONE_NEWPID},
                                 {"net namespace", CLONE_NEWNET},  {"ipc namespace", CLONE_NEWIPC},
                                 {"uts namespace", CLONE_NEWUTS}};

// Runs `body` in a child cloned with `flags`; returns its failure, if any.
template <typename Body>
Status InChild(int flags, Body body) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD | flags, nullptr, nullptr, nullptr, nullptr));
  if (pid == 0) {
    close(fds[0]);
    SetupFailure f;
    const char* failed = "";
    f.error = body(&failed);
    if (f.error != 0) {
      std::strncpy(f.call, failed, sizeof f.call - 1);
      (void)!write(fds[1], &f, sizeof f);
    }
    _exit(f.error == 0 ? 0 : 1);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return ErrnoStatus("clone");
  }
  SetupFailure f;
  ssize_t n = read(fds[0], &f, sizeof f);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n == static_cast<ssize_t>(sizeof f)) return Internal(std::string(f.call) + ": " + std::strerror(f.error));
  return OkStatus();
}

}  // namespace

std::unique_ptr<Sandbox> Sandbox::Create(SandboxOptions options) {
  std::unique_ptr<Sandbox> s(new Sandbox(std::move(options)));
  s->ProbeNamespaces();
  s->ProbeCgroups();
  s->ProbePrivileges();
  s->ProbeSeccomp();
  return s;
}

void Sandbox::ProbeNamespaces() {
  namespaces_ = true;
  for (const Probe& p : kNamespaces) {
    Status st = InChild(0, [&](const char** failed) {
      *failed = "unshare";
      return unshare(p.flag) == 0 ? 0 : errno;
    });
    report_.push_back({p.name, st.ok(), st.ok() ? "active" : st.message()});
    namespaces_ = namespaces_ && st.ok();
  }
  if (!namespaces_) {
    report_.push_back({"read-only root", false, "needs every namespace above"});
    return;
  }
  auto plan = MountPlan::Build({options_.host_readonly, {{options_.worker, kWorkerPath}}, options_.tmp_mb},
                               options_.staging_dir);
  Status st = plan.ok() ? InChild(kCloneFlags, [&](const char** failed) {
    if (int e = ConfigureNamespacesInChild(failed)) return e;
    return plan->ApplyInChild(failed);
  })
                        : plan.status();
  mounts_ = st.ok();
  report_.push_back({"read-only root", mounts_,
                     mounts_ ? "pivot_root into a tmpfs; bundle at /var/task, layers under /opt, /tmp tmpfs " +
                                   std::to_string(options_.tmp_mb) + " MiB"
                             : st.message()});
  namespaces_ = mounts_;  // the namespaces go together with the root they make
}

void Sandbox::ProbeCgroups() {
  auto manager = CgroupManager::Detect("kiln");
  if (!manager.ok()) {
    report_.push_back({"cgroup memory", false,
                       manager.status().message() + "; the memory limit falls back to RLIMIT_DATA (no OOM detection, "
                                                    "the handler sees MemoryError)"});
    report_.push_back({"cgroup pids", false, "needs the cgroup above"});
    return;
  }
  cgroups_ = std::move(manager).value();
  pids_limit_ = cgroups_->pids_status().ok();
  report_.push_back({"cgroup memory", true, cgroups_->describe() + "; swap off"});
  report_.push_back({"cgroup pids", pids_limit_,
                     pids_limit_ ? "pids.max " + std::to_string(options_.pids_max) : cgroups_->pids_status().message()});
}

void Sandbox::ProbePrivileges() {
  // Without its own root the worker reads the runtime from host paths an
  // unprivileged user may not reach (a home folder of 0700): keep root, say so.
  if (!mounts_) {
    report_.push_back({"capabilities dropped", false, "needs the read-only root"});
    return;
  }
  auto ids = PickUnprivilegedIds();
  if (!ids.ok()) {
    report_.push_back({"capabilities dropped", false, ids.status().message()});
    return;
  }
  ids_ = *ids;
  report_.push_back({"capabilities dropped", true,
                     "runs as uid " + std::to_string(ids->uid) + ", no capabilities, no_new_privs, " +
                         std::to_string(kHandlerOpenFileLimit) + " open files, no core dumps"});
}

void Sandbox::ProbeSeccomp() {
  auto program = BuildSeccompProgram();
  Status st = program.ok() ? InChild(0, [&](const char** failed) { return program->InstallInChild(failed); })
                           : program.status();
  if (!st.ok()) {
    report_.push_back({"seccomp", false, st.message()});
    return;
  }
  report_.push_back({"seccomp", true,
                     std::to_string(program->denied_syscalls().size()) + " syscalls denied, " +
                         std::to_string(program->restricted_syscalls().size()) + " restricted"});
  seccomp_ = std::move(program).value();
}

Result<std::unique_ptr<ContainerCgroup>> Sandbox::CreateCgroup(const std::string& container_id,
                                                               int64_t memory_mb) const {
  if (!cgroups_) return std::unique_ptr<ContainerCgroup>();
  return cgroups_->Create(container_id, memory_mb << 20, options_.pids_max);
}

Result<std::optional<MountPlan>> Sandbox::PlanMounts(const std::vector<BindMount>& binds) const {
  if (!mounts_) return std::optional<MountPlan>();
  std::vector<BindMount> all = binds;
  all.push_back({options_.worker, kWorkerPath});
  KILN_ASSIGN_OR_RETURN(MountPlan plan,
                        MountPlan::Build({options_.host_readonly, all, options_.tmp_mb}, options_.staging_dir));
  return std::optional<MountPlan>(std::move(plan));
}

void Sandbox::Configure(ChildPlan& plan, const MountPlan* mounts, int64_t memory_mb) const {
  plan.namespaces = namespaces_;
  if (mounts != nullptr) plan.path = kWorkerPath;
  if (!cgroups_) plan.data_limit = static_cast<rlim_t>(memory_mb) << 20;  // the fallback
  plan.mounts = mounts;
  plan.ids = ids_;
  plan.seccomp = seccomp_ ? &*seccomp_ : nullptr;
}

Result<std::optional<MountPlan>> Sandbox::PlanZygoteMounts(const std::vector<BindMount>& binds) const {
  if (!mounts_) return std::optional<MountPlan>();
  KILN_ASSIGN_OR_RETURN(MountPlan plan, MountPlan::ZygoteView(binds));
  return std::optional<MountPlan>(std::move(plan));
}

void Sandbox::ConfigureZygote(ChildPlan& plan, const MountPlan* mounts, int64_t memory_mb) const {
  plan.namespaces = namespaces_;
  if (!cgroups_) plan.data_limit = static_cast<rlim_t>(memory_mb) << 20;
  plan.mounts = mounts;
}

}  // namespace kiln::sandbox
