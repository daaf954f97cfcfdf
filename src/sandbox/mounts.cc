#include "sandbox/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

namespace kiln::sandbox {
namespace {

namespace fs = std::filesystem;

constexpr unsigned long kReadOnlyBind = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
constexpr const char* kDevices[] = {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"};

}  // namespace

void MountPlan::Mkdirs(const std::string& path) {
  std::string partial;
  for (const auto& part : fs::path(path).relative_path()) {
    partial += "/" + part.string();
    steps_.push_back({Step::kMkdir, root_ + partial, "", "", 0, "", "mkdir(" + partial + ")"});
  }
}

void MountPlan::BindReadOnly(const std::string& source, const std::string& target, bool is_dir) {
  if (is_dir) {
    Mkdirs(target);
  } else {
    Mkdirs(fs::path(target).parent_path().string());
    steps_.push_back({Step::kTouch, root_ + target, "", "", 0, "", "open(" + target + ", O_CREAT)"});
  }
  const std::string dst = root_ + target;
  steps_.push_back({Step::kMount, source, dst, "", MS_BIND | MS_REC, "", "mount(" + source + ", bind)"});
  // A bind mount takes the read-only flag only on a remount.
  steps_.push_back({Step::kMount, "", dst, "", kReadOnlyBind, "", "mount(" + target + ", remount ro)"});
}

Result<MountPlan> MountPlan::Build(const FsSpec& spec, const std::string& staging) {
  MountPlan plan;
  plan.root_ = staging;
  auto& s = plan.steps_;
  // Nothing mounted here may propagate back to the host.
  s.push_back({Step::kMount, "", "/", "", MS_REC | MS_PRIVATE, "", "mount(/, private)"});
  s.push_back({Step::kMount, "tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755",
               "mount(tmpfs, " + staging + ")"});
  // /tmp first: a host folder that lives under /tmp (a checkout in /tmp) is then
  // bound inside the container's /tmp instead of being hidden by it.
  plan.Mkdirs("/tmp");
  s.push_back({Step::kMount, "tmpfs", staging + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
               "size=" + std::to_string(spec.tmp_mb) + "m,mode=1777", "mount(tmpfs, /tmp)"});
  std::set<std::string> seen;
  for (const std::string& path : spec.host_readonly) {
    std::error_code ec;
    auto status = fs::symlink_status(path, ec);
    if (ec) return InvalidArgument("sandbox: host path " + path + " is not there: " + ec.message());
    if (!seen.insert(path).second) continue;
    if (fs::is_symlink(status)) {  // /bin -> usr/bin on merged-/usr systems
      plan.Mkdirs(fs::path(path).parent_path().string());
      s.push_back({Step::kSymlink, fs::read_symlink(path).string(), staging + path, "", 0, "",
                   "symlink(" + path + ")"});
      continue;
    }
    plan.BindReadOnly(path, path, fs::is_directory(status));
  }
  for (const BindMount& b : spec.binds) {
    std::error_code ec;
    auto status = fs::status(b.source, ec);
    if (!fs::is_directory(status) && !fs::is_regular_file(status)) {
      return InvalidArgument("sandbox: " + b.source + " is neither a folder nor a file");
    }
    plan.BindReadOnly(b.source, b.target, fs::is_directory(status));
  }
  plan.Mkdirs("/dev");
  for (const char* dev : kDevices) {
    s.push_back({Step::kTouch, staging + dev, "", "", 0, "", std::string("open(") + dev + ", O_CREAT)"});
    s.push_back({Step::kMount, dev, staging + dev, "", MS_BIND, "", std::string("mount(") + dev + ", bind)"});
  }
  plan.Mkdirs("/proc");
  s.push_back({Step::kMount, "proc", staging + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "",
               "mount(proc, /proc)"});
  plan.Mkdirs("/.old");
  s.push_back({Step::kPivot, staging, staging + "/.old", "", 0, "", "pivot_root(" + staging + ")"});
  return plan;
}

Result<MountPlan> MountPlan::ZygoteView(const std::vector<BindMount>& binds) {
  MountPlan plan;
  auto& s = plan.steps_;
  s.push_back({Step::kMount, "", "/", "", MS_REC | MS_PRIVATE, "", "mount(/, private)"});
  s.push_back({Step::kMkdir, "/opt", "", "", 0, "", "mkdir(/opt)"});
  s.push_back({Step::kMount, "tmpfs", "/opt", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755",
               "mount(tmpfs, /opt)"});
  for (const BindMount& b : binds) {
    if (!b.target.starts_with("/opt/")) continue;
    std::error_code ec;
    if (!fs::is_directory(b.source, ec)) return InvalidArgument("sandbox: layer " + b.source + " is not a folder");
    plan.BindReadOnly(b.source, b.target, true);
  }
  return plan;
}

nlohmann::json MountPlan::ToJson() const {
  nlohmann::json steps = nlohmann::json::array();
  for (const Step& st : steps_) {
    steps.push_back({static_cast<int>(st.kind), st.a, st.b, st.fstype, st.flags, st.data, st.what});
  }
  return {{"root", root_}, {"steps", std::move(steps)}};
}

Result<MountPlan> MountPlan::FromJson(const nlohmann::json& j) {
  MountPlan plan;
  try {
    plan.root_ = j.at("root").get<std::string>();
    for (const auto& st : j.at("steps")) {
      int kind = st.at(0).get<int>();
      if (kind < Step::kMkdir || kind > Step::kPivot) return InvalidArgument("mount plan: unknown step");
      plan.steps_.push_back({static_cast<Step::Kind>(kind), st.at(1).get<std::string>(), st.at(2).get<std::string>(),
                             st.at(3).get<std::string>(), st.at(4).get<unsigned long>(),
                             st.at(5).get<std::string>(), st.at(6).get<std::string>()});
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("mount plan: ") + e.what());
  }
  return plan;
}

int MountPlan::ApplyInChild(const char** failed) const {
  for (const Step& st : steps_) {
    int rc = 0;
    switch (st.kind) {
      case Step::kMkdir:
        rc = mkdir(st.a.c_str(), 0755);
        if (rc != 0 && errno == EEXIST) rc = 0;
        break;
      case Step::kTouch: {
        int fd = open(st.a.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        rc = fd < 0 ? -1 : close(fd);
        break;
      }
      case Step::kSymlink:
        rc = symlink(st.a.c_str(), st.b.c_str());
        break;
      case Step::kMount:
        rc = mount(st.a.empty() ? nullptr : st.a.c_str(), st.b.c_str(),
                   st.fstype.empty() ? nullptr : st.fstype.c_str(), st.flags,
                   st.data.empty() ? nullptr : st.data.c_str());
        break;
      case Step::kPivot:
        rc = static_cast<int>(syscall(SYS_pivot_root, st.a.c_str(), st.b.c_str()));
        if (rc == 0) rc = chdir("/");
        if (rc == 0) rc = umount2("/.old", MNT_DETACH);  // the host's tree is gone from here
        if (rc == 0) rc = rmdir("/.old");
        // The root tmpfs holds only mount points: read-only from now on.
        if (rc == 0) rc = mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr);
        break;
    }
    if (rc != 0) {
      *failed = st.what.c_str();
      return errno;
    }
  }
  return 0;
}

}  // namespace kiln::sandbox
