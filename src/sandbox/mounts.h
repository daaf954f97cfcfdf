// DESIGN: the container's filesystem (SPEC §7), built in a fresh mount namespace:
// a tmpfs becomes the new root; the host's runtime folders are bind-mounted into it
// read-only at their own paths, the bundle read-only at /var/task, each layer
// read-only under /opt/<name>; /tmp is a tmpfs of tmp_mb (its pages count in the
// container's memory cgroup), /dev holds only null, zero, random and urandom, /proc
// is the container's own (its PID namespace); then pivot_root into it, the host's
// tree is detached, and the root itself is made read-only. Nothing of the daemon's
// data folder or of another function is visible.
//
// Two halves, nsjail-style: MountPlan::Build runs in the daemon (allocates, checks
// paths); ApplyInChild runs in the child between clone and exec, so it makes only
// syscalls (async-signal-safe) and reports the first failing call. A plan travels
// as JSON to a zygote, whose forked children apply it (fork_server.h).
//
// A zygote's own view (ZygoteView) is the host's tree in a private mount namespace
// with each layer bound read-only under /opt: it imports the layers from the same
// paths its children see them at, so what it imported stays valid in them.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace kiln::sandbox {

struct BindMount {
  std::string source;  // host path
  std::string target;  // path inside the container
};

struct FsSpec {
  std::vector<std::string> host_readonly;  // host folders/files visible at their own path
  std::vector<BindMount> binds;            // read-only folders or files, e.g. the bundle at /var/task
  int64_t tmp_mb = 512;
};

class MountPlan {
 public:
  // `staging` is an empty host folder; each child mounts its own tmpfs over it in
  // its private mount namespace, so every container can share the same one.
  static Result<MountPlan> Build(const FsSpec& spec, const std::string& staging);
  // The binds whose target is under /opt, over a fresh tmpfs on /opt; no new root.
  static Result<MountPlan> ZygoteView(const std::vector<BindMount>& binds);

  nlohmann::json ToJson() const;
  static Result<MountPlan> FromJson(const nlohmann::json& j);

  // Child side. Returns 0, or an errno with *failed naming the call and its path.
  int ApplyInChild(const char** failed) const;

 private:
  struct Step {
    enum Kind { kMkdir, kTouch, kSymlink, kMount, kPivot } kind;
    std::string a;  // path (mkdir/touch), link target, mount source, or new root
    std::string b;  // symlink path, mount target, or put-old
    std::string fstype;
    unsigned long flags = 0;
    std::string data;
    std::string what;  // "mount(/usr, ro)" for the error message
  };
  void Mkdirs(const std::string& path);
  void BindReadOnly(const std::string& source, const std::string& target, bool is_dir);

  std::string root_;
  std::vector<Step> steps_;
};

}  // namespace kiln::sandbox
