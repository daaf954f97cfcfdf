// DESIGN: what this host lets Kiln use to contain a container, decided once at daemon
// start by trying each piece (SPEC §7, "never pretend"): the mount, PID, IPC, UTS and
// network namespaces with the read-only root (mounts.h), the memory and pids cgroup
// (cgroup.h), the seccomp filter (seccomp_policy.h), and dropping to an unprivileged
// user with no capabilities (privileges.h). A piece that fails its probe is left out
// and reported with the reason; `kiln doctor` and the daemon's start-up log print the
// report. The spawner asks it for each container's cgroup and mount plan.
//
// Threading: built before the I/O thread starts; const afterwards except for cgroup
// creation, which the I/O thread alone does.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/cgroup.h"
#include "sandbox/contain.h"
#include "sandbox/mounts.h"

namespace kiln::sandbox {

struct SandboxOptions {
  std::string staging_dir;                 // an empty folder: the new root's mount point
  std::string worker;                      // the kiln-worker binary, run as kWorkerPath inside
  std::vector<std::string> host_readonly;  // runtime folders visible at their own path
  int64_t tmp_mb = 512;
  int64_t pids_max = 256;
};

// One line of `kiln doctor`.
struct Piece {
  std::string name;
  bool active = false;
  std::string detail;  // how it is enforced, or why it is missing
};

class Sandbox {
 public:
  // Where the worker binary is inside a container with its own root: a fixed path,
  // so wherever Kiln is installed (even under /tmp) no host path shows inside.
  static constexpr const char* kWorkerPath = "/.kiln/kiln-worker";

  static std::unique_ptr<Sandbox> Create(SandboxOptions options);

  const std::vector<Piece>& report() const { return report_; }
  // True when containers get their own root: the bundle is at /var/task, layers
  // under /opt. Otherwise they see host paths.
  bool own_root() const { return mounts_; }

  // For the spawner.
  Result<std::unique_ptr<ContainerCgroup>> CreateCgroup(const std::string& container_id,
                                                        int64_t memory_mb) const;
  Result<std::optional<MountPlan>> PlanMounts(const std::vector<BindMount>& binds) const;
  void Configure(ChildPlan& plan, const MountPlan* mounts, int64_t memory_mb) const;
  // A zygote (worker_spawner.h): the layers under /opt, root and capabilities kept.
  Result<std::optional<MountPlan>> PlanZygoteMounts(const std::vector<BindMount>& binds) const;
  void ConfigureZygote(ChildPlan& plan, const MountPlan* mounts, int64_t memory_mb) const;

 private:
  explicit Sandbox(SandboxOptions options) : options_(std::move(options)) {}
  void ProbeNamespaces();
  void ProbeCgroups();
  void ProbeSeccomp();
  void ProbePrivileges();

  SandboxOptions options_;
  std::vector<Piece> report_;
  bool namespaces_ = false;
  bool mounts_ = false;
  std::unique_ptr<CgroupManager> cgroups_;
  bool pids_limit_ = false;
  std::optional<SeccompProgram> seccomp_;
  std::optional<UnprivilegedIds> ids_;
};

}  // namespace kiln::sandbox
