#include "sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"

namespace kiln::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

// Removal waits for killed processes to leave their group, but never longer than this.
constexpr auto kRemoveBudget = std::chrono::seconds(1);

// ---- Files -------------------------------------------------------------------------

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open(" + path + ")");
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read(" + path + ")");
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
  }
}

// 0 on success, else errno: callers that react to a particular errno need it raw.
int TryWrite(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return errno;
  // cgroup files take one value per write(); a short write would be a kernel bug.
  if (::write(fd.get(), value.data(), value.size()) < 0) return errno;
  return 0;
}

Status WriteFile(const std::string& path, const std::string& value) {
  const int err = TryWrite(path, value);
  return err == 0 ? OkStatus() : ErrnoStatus("write(" + path + ", " + value + ")", err);
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, sep);) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    if (w == word) return true;
  }
  return false;
}

std::optional<int64_t> ReadInt(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  std::istringstream in(*text);
  int64_t value = 0;
  if (in >> value) return value;
  return std::nullopt;
}

// A cgroup file opened once and read again at every call: a descriptor kept open and
// read from offset 0 shows the value now (seq_file starts over at 0; only cgroup v1's
// pid lists are cached per open). No open or close per read: these are read once a run.
class KeptFile {
 public:
  // An unopenable file (memory.peak before Linux 5.19) reads as nothing.
  void Open(const std::string& path) { fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)); }
  bool open() const { return fd_.valid(); }
  Result<int64_t> ReadInt(const char* what) const {
    if (!fd_.valid()) return NotFound(std::string(what) + " is not kept");
    char buf[32];
    ssize_t n;
    do {
      n = ::pread(fd_.get(), buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoStatus(std::string("pread(") + what + ")");
    int64_t value = 0;
    if (std::from_chars(buf, buf + n, value).ec != std::errc()) return Internal(std::string(what) + " is not a number");
    return value;
  }
  void Close() { fd_ = UniqueFd(); }

 private:
  UniqueFd fd_;
};

// The N of a "key N" line, as in memory.events and memory.oom_control.
std::optional<int64_t> KeyedValue(const std::string& path, const std::string& key) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string k;
    int64_t value = 0;
    if (words >> k >> value && k == key) return value;
  }
  return std::nullopt;
}

// ---- Where this process sits: /proc/self/mountinfo and /proc/self/cgroup --------

struct CgroupMount {
  std::string fstype;  // "cgroup" (v1) or "cgroup2"
  std::string root;    // the subtree of the hierarchy this mount shows
  std::string mount_point;
  std::vector<std::string> options;  // v1: names the controllers
};

bool IsOctal(const std::string& s) {
  return std::ranges::all_of(s, [](char c) { return c >= '0' && c <= '7'; });
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && IsOctal(s.substr(i + 1, 3))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<std::vector<CgroupMount>> CgroupMounts() {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/mountinfo"));
  std::vector<CgroupMount> mounts;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    // id parent major:minor root mount-point options [optional...] - fstype source super
    const std::vector<std::string> f = Split(line, ' ');
    if (f.size() < 10) continue;
    const auto dash = std::find(f.begin() + 6, f.end(), "-");
    if (f.end() - dash < 4) continue;
    if (dash[1] != "cgroup" && dash[1] != "cgroup2") continue;
    mounts.push_back({dash[1], Unescape(f[3]), Unescape(f[4]), Split(dash[3], ',')});
  }
  return mounts;
}

// This process's path in the hierarchy of `controller` ("" for the v2 hierarchy).
Result<std::string> OwnPath(const std::string& controller) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/cgroup"));
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    // hierarchy-id:controller,controller:path
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const bool match = controller.empty()
                           ? line.substr(0, a) == "0" && controllers.empty()
                           : std::ranges::count(Split(controllers, ','), controller) > 0;
    if (match) return line.substr(b + 1);
  }
  return NotFound("no " + (controller.empty() ? "cgroup v2 (0::)" : controller) +
                  " line in /proc/self/cgroup");
}

// The directory of this process's own cgroup in the hierarchy that `fstype` mounts carry
// with `controller` ("" for v2). A mount may show only a subtree (mountinfo's root).
Result<std::string> OwnDir(const std::string& fstype, const std::string& controller) {
  const std::string what = controller.empty() ? "cgroup2" : "cgroup v1 " + controller;
  KILN_ASSIGN_OR_RETURN(std::vector<CgroupMount> mounts, CgroupMounts());
  const auto carries = [&](const CgroupMount& m) {
    return m.fstype == fstype &&
           (controller.empty() || std::ranges::count(m.options, controller) > 0);
  };
  if (std::ranges::none_of(mounts, carries)) {
    return NotFound("no " + what + " hierarchy in /proc/self/mountinfo");
  }
  KILN_ASSIGN_OR_RETURN(std::string path, OwnPath(controller));
  for (const CgroupMount& m : mounts) {
    if (!carries(m)) continue;
    if (m.root == "/") return path == "/" ? m.mount_point : m.mount_point + path;
    if (path == m.root) return m.mount_point;
    if (path.starts_with(m.root + "/")) return m.mount_point + path.substr(m.root.size());
  }
  return NotFound("own cgroup " + path + " lies outside every mount of the " + what + " hierarchy");
}

// ---- Removal -----------------------------------------------------------------------

std::vector<std::string> SubDirs(const std::string& dir) {
  std::vector<std::string> subdirs;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return subdirs;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..") subdirs.push_back(dir + "/" + name);
  }
  ::closedir(d);
  return subdirs;
}

// SIGKILL to each process listed. A listed pid could exit and be reused before kill();
// v2's cgroup.kill has no such window and is used where the kernel offers it.
void KillListed(const std::string& dir) {
  auto procs = ReadFile(dir + "/cgroup.procs");
  if (!procs.ok()) return;
  std::istringstream in(*procs);
  for (pid_t pid = 0; in >> pid;) ::kill(pid, SIGKILL);
}

// Kills every process in `dir` and its descendant groups, then removes them all.
Status KillAndRemove(const std::string& dir, Clock::time_point deadline) {
  for (const std::string& sub : SubDirs(dir)) KILN_RETURN_IF_ERROR(KillAndRemove(sub, deadline));
  const bool has_kill = Exists(dir + "/cgroup.kill");
  for (;;) {
    if (has_kill) {
      (void)TryWrite(dir + "/cgroup.kill", "1");
    } else {
      KillListed(dir);  // again on each pass: a process may have forked meanwhile
    }
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return OkStatus();
    const int err = errno;
    // EBUSY: a killed process leaves its group only once the kernel has torn it down.
    if (err != EBUSY || Clock::now() >= deadline) {
      return ErrnoStatus("rmdir(" + dir + ")", err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// mkdir of a manager's parent group. One that exists was left by an earlier daemon that
// had our pid and died without cleaning up: empty it and use it.
Status MakeParent(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return OkStatus();
  if (errno != EEXIST) return ErrnoStatus("mkdir(" + dir + ")");
  const auto deadline = Clock::now() + kRemoveBudget;
  for (const std::string& sub : SubDirs(dir)) KILN_RETURN_IF_ERROR(KillAndRemove(sub, deadline));
  return OkStatus();
}

// Groups "<prefix>-<pid>" (and v2's "<prefix>-<pid>-daemon" leaves) beside ours whose
// daemon is gone were left by a daemon killed with SIGKILL: empty and remove them, so
// a crash leaves nothing behind for longer than the next start.
void SweepStale(const std::string& own_dir, const std::string& prefix) {
  const auto deadline = Clock::now() + kRemoveBudget;
  for (const std::string& dir : SubDirs(own_dir)) {
    std::string name = dir.substr(dir.rfind('/') + 1);
    if (name.rfind(prefix + "-", 0) != 0) continue;
    std::string rest = name.substr(prefix.size() + 1);
    if (rest.size() > 7 && rest.compare(rest.size() - 7, 7, "-daemon") == 0) rest.resize(rest.size() - 7);
    if (rest.empty() || !std::all_of(rest.begin(), rest.end(), ::isdigit)) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(rest));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    (void)KillAndRemove(dir, deadline);
  }
}

Status CheckCreateArgs(const std::string& id, int64_t memory_bytes, int64_t pids_max) {
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos) {
    return InvalidArgument("container id \"" + id + "\" is not a single path component");
  }
  if (memory_bytes <= 0 || pids_max <= 0) {
    return InvalidArgument("cgroup limits must be positive (memory " +
                           std::to_string(memory_bytes) + ", pids " + std::to_string(pids_max) +
                           ")");
  }
  return OkStatus();
}

// ---- What both versions' container groups share: one directory per hierarchy -------

class DirGroup : public ContainerCgroup {
 public:
  ~DirGroup() override { (void)Destroy(); }

  // Owns `dir` from its mkdir on, so a failure later in Create() removes it.
  Status MakeDir(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0) return ErrnoStatus("mkdir(" + dir + ")");
    dirs_.push_back(dir);
    return OkStatus();
  }

  Status Attach(pid_t pid) override {
    for (const std::string& dir : dirs_) {
      KILN_RETURN_IF_ERROR(WriteFile(dir + "/cgroup.procs", std::to_string(pid)));
    }
    return OkStatus();
  }

  // Every hierarchy holds the same processes (Attach writes them all): read the first.
  // Opened afresh each time: cgroup v1 builds the list when the file is opened, so a
  // descriptor kept open (and read again from offset 0) shows a stale list.
  Result<std::vector<pid_t>> Procs() const final {
    if (dirs_.empty()) return Internal("the container's cgroup is gone");
    const std::string path = dirs_.front() + "/cgroup.procs";
    UniqueFd procs(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!procs.valid()) return ErrnoStatus("open(" + path + ")");
    std::string listed;
    char buf[4096];
    for (;;) {
      ssize_t n = ::pread(procs.get(), buf, sizeof buf, static_cast<off_t>(listed.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("pread(" + path + ")");
      if (n == 0) break;
      listed.append(buf, static_cast<size_t>(n));
    }
    std::vector<pid_t> pids;
    for (const char *p = listed.data(), *end = p + listed.size(); p < end;) {
      pid_t pid = 0;
      auto [next, ec] = std::from_chars(p, end, pid);
      if (ec != std::errc()) return Internal(path + " lists '" + listed + "'");
      pids.push_back(pid);
      p = next + 1;  // the newline
    }
    return pids;
  }

  // Keeps <dir>/pids.current open for TaskCount().
  Status KeepTaskCount(const std::string& dir) {
    const std::string path = dir + "/pids.current";
    task_count_.Open(path);
    if (!task_count_.open()) return ErrnoStatus("open(" + path + ")");
    return OkStatus();
  }

  Result<int64_t> TaskCount() const final {
    if (!task_count_.open()) return NotFound("no pids controller for this container");
    return task_count_.ReadInt("pids.current");
  }

  // The memory peak file (memory.max_usage_in_bytes on v1, memory.peak on v2), kept.
  void KeepPeak(const std::string& path) { peak_.Open(path); }
  std::optional<int64_t> PeakBytes() const final {
    auto peak = peak_.ReadInt("the memory peak");
    return peak.ok() ? std::optional(*peak) : std::nullopt;
  }

  Status Destroy() final {
    task_count_.Close();
    peak_.Close();
    const auto deadline = Clock::now() + kRemoveBudget;
    Status first;
    std::vector<std::string> left;  // kept so a later Destroy() tries them again
    for (const std::string& dir : dirs_) {
      Status st = KillAndRemove(dir, deadline);
      if (st.ok()) continue;
      left.push_back(dir);
      if (first.ok()) first = std::move(st);
    }
    dirs_ = std::move(left);
    return first;
  }

  const std::vector<std::string>& dirs() const override { return dirs_; }

 private:
  std::vector<std::string> dirs_;
  KeptFile task_count_;  // pids.current, when the pids controller is there
  KeptFile peak_;
};

// ---- cgroup v1: a memory hierarchy, and a pids hierarchy where mounted --------------

Status SetV1MemoryLimit(const std::string& dir, int64_t bytes);

class V1Container final : public DirGroup {
 public:
  explicit V1Container(std::string memory_dir) : memory_dir_(std::move(memory_dir)) {}

  Status SetMemoryLimit(int64_t bytes) override { return SetV1MemoryLimit(memory_dir_, bytes); }

  std::optional<int64_t> CurrentBytes() const override { return ReadInt(memory_dir_ + "/memory.usage_in_bytes"); }

  bool OomKilled() const override {
    if (auto kills = KeyedValue(memory_dir_ + "/memory.oom_control", "oom_kill")) {
      return *kills > 0;
    }
    // Kernels before 4.13 lack the counter. failcnt counts every time the limit was hit,
    // reclaimed or not, so it can over-report; it is the only evidence left there.
    auto failcnt = ReadInt(memory_dir_ + "/memory.failcnt");
    return failcnt && *failcnt > 0;
  }

 private:
  std::string memory_dir_;
};

// Swap off: memsw (memory + swap) gets the same limit as memory. The kernel keeps
// limit_in_bytes <= memsw.limit_in_bytes at every step, so a lower limit is written
// before memsw and a higher one after it.
Status SetV1MemoryLimit(const std::string& dir, int64_t bytes) {
  const std::string limit = dir + "/memory.limit_in_bytes";
  const std::string memsw = dir + "/memory.memsw.limit_in_bytes";
  const std::string value = std::to_string(bytes);
  if (!Exists(memsw)) return WriteFile(limit, value);  // no swap accounting on this kernel
  if (ReadInt(limit).value_or(INT64_MAX) >= bytes) {
    KILN_RETURN_IF_ERROR(WriteFile(limit, value));
    return WriteFile(memsw, value);
  }
  KILN_RETURN_IF_ERROR(WriteFile(memsw, value));
  return WriteFile(limit, value);
}

class V1Manager final : public CgroupManager {
 public:
  V1Manager(std::string memory_parent, std::optional<std::string> pids_parent, Status pids)
      : memory_parent_(std::move(memory_parent)),
        pids_parent_(std::move(pids_parent)),
        pids_status_(std::move(pids)) {}

  ~V1Manager() override {
    const auto deadline = Clock::now() + kRemoveBudget;
    (void)KillAndRemove(memory_parent_, deadline);
    if (pids_parent_) (void)KillAndRemove(*pids_parent_, deadline);
  }

  std::string describe() const override {
    return "cgroup v1 (memory: " + memory_parent_ + ", pids: " +
           (pids_parent_ ? *pids_parent_ : "missing (" + pids_status_.message() + ")") + ")";
  }

  const Status& pids_status() const override { return pids_status_; }

  Result<std::unique_ptr<ContainerCgroup>> Create(const std::string& id, int64_t memory_bytes,
                                                  int64_t pids_max) override {
    KILN_RETURN_IF_ERROR(CheckCreateArgs(id, memory_bytes, pids_max));
    const std::string memory_dir = memory_parent_ + "/" + id;
    auto group = std::make_unique<V1Container>(memory_dir);
    KILN_RETURN_IF_ERROR(group->MakeDir(memory_dir));
    KILN_RETURN_IF_ERROR(SetV1MemoryLimit(memory_dir, memory_bytes));
    group->KeepPeak(memory_dir + "/memory.max_usage_in_bytes");
    if (pids_parent_) {
      const std::string pids_dir = *pids_parent_ + "/" + id;
      KILN_RETURN_IF_ERROR(group->MakeDir(pids_dir));
      KILN_RETURN_IF_ERROR(WriteFile(pids_dir + "/pids.max", std::to_string(pids_max)));
      KILN_RETURN_IF_ERROR(group->KeepTaskCount(pids_dir));
    }
    return std::unique_ptr<ContainerCgroup>(std::move(group));
  }

 private:
  std::string memory_parent_;
  std::optional<std::string> pids_parent_;
  Status pids_status_;
};

Result<std::unique_ptr<CgroupManager>> DetectV1(const std::string& prefix, const std::string& group) {
  KILN_ASSIGN_OR_RETURN(std::string own_memory, OwnDir("cgroup", "memory"));
  SweepStale(own_memory, prefix);
  const std::string memory_parent = own_memory + "/" + group;
  KILN_RETURN_IF_ERROR(MakeParent(memory_parent));
  std::optional<std::string> pids_parent;
  Result<std::string> own_pids = OwnDir("cgroup", "pids");
  Status pids = own_pids.status();
  if (own_pids.ok()) {
    SweepStale(*own_pids, prefix);
    pids = MakeParent(*own_pids + "/" + group);
    if (pids.ok()) pids_parent = *own_pids + "/" + group;
  }
  return std::unique_ptr<CgroupManager>(
      std::make_unique<V1Manager>(memory_parent, std::move(pids_parent), std::move(pids)));
}

// ---- cgroup v2: one unified hierarchy ------------------------------------------------

class V2Container final : public DirGroup {
 public:
  explicit V2Container(std::string dir) : dir_(std::move(dir)) {}

  Status SetMemoryLimit(int64_t bytes) override { return WriteFile(dir_ + "/memory.max", std::to_string(bytes)); }

  std::optional<int64_t> CurrentBytes() const override { return ReadInt(dir_ + "/memory.current"); }

  bool OomKilled() const override {
    auto kills = KeyedValue(dir_ + "/memory.events", "oom_kill");
    return kills && *kills > 0;
  }

 private:
  std::string dir_;
};

// v2's "no internal processes" rule: a group hands a controller to its children only by
// listing it in cgroup.subtree_control, and the kernel refuses that (EBUSY) while the
// group holds processes itself, the root excepted. The daemon sits in its own cgroup,
// so, as nsjail does, it moves itself into a leaf beside Kiln's parent group first:
//   <own>/kiln-123-daemon   the daemon          <own>/kiln-123/<id>   containers
// and moves back when the manager goes, so the host ends as it began.
class V2Manager final : public CgroupManager {
 public:
  V2Manager(std::string own, std::string parent)
      : own_(std::move(own)), parent_(std::move(parent)) {}

  ~V2Manager() override {
    if (made_parent_) (void)KillAndRemove(parent_, Clock::now() + kRemoveBudget);
    if (!leaf_) return;
    // The daemon may rejoin its cgroup only once the controllers we enabled there are off.
    for (auto it = enabled_in_own_.rbegin(); it != enabled_in_own_.rend(); ++it) {
      (void)TryWrite(own_ + "/cgroup.subtree_control", "-" + *it);
    }
    if (TryWrite(own_ + "/cgroup.procs", std::to_string(::getpid())) == 0) ::rmdir(leaf_->c_str());
  }

  // Enables memory (required) and pids (where offered) for the parent and its children.
  Status Setup(bool pids_offered) {
    KILN_RETURN_IF_ERROR(EnableInOwn("memory"));
    pids_status_ = pids_offered
                       ? EnableInOwn("pids")
                       : NotFound("pids controller not offered in " + own_ + "/cgroup.controllers");
    KILN_RETURN_IF_ERROR(MakeParent(parent_));
    made_parent_ = true;
    KILN_RETURN_IF_ERROR(WriteFile(parent_ + "/cgroup.subtree_control", "+memory"));
    if (pids_status_.ok()) pids_status_ = WriteFile(parent_ + "/cgroup.subtree_control", "+pids");
    return OkStatus();
  }

  std::string describe() const override {
    return "cgroup v2 (" + parent_ + ", memory, pids: " +
           (pids_status_.ok() ? "on" : "missing (" + pids_status_.message() + ")") +
           (leaf_ ? ", daemon moved to " + *leaf_ : "") + ")";
  }

  const Status& pids_status() const override { return pids_status_; }

  Result<std::unique_ptr<ContainerCgroup>> Create(const std::string& id, int64_t memory_bytes,
                                                  int64_t pids_max) override {
    KILN_RETURN_IF_ERROR(CheckCreateArgs(id, memory_bytes, pids_max));
    const std::string dir = parent_ + "/" + id;
    auto group = std::make_unique<V2Container>(dir);
    KILN_RETURN_IF_ERROR(group->MakeDir(dir));
    KILN_RETURN_IF_ERROR(WriteFile(dir + "/memory.max", std::to_string(memory_bytes)));
    group->KeepPeak(dir + "/memory.peak");  // from Linux 5.19; older kernels record no peak
    // memory.swap.max exists only where the kernel accounts swap.
    if (Exists(dir + "/memory.swap.max")) {
      KILN_RETURN_IF_ERROR(WriteFile(dir + "/memory.swap.max", "0"));
    }
    if (pids_status_.ok()) {
      KILN_RETURN_IF_ERROR(WriteFile(dir + "/pids.max", std::to_string(pids_max)));
      KILN_RETURN_IF_ERROR(group->KeepTaskCount(dir));
    }
    return std::unique_ptr<ContainerCgroup>(std::move(group));
  }

 private:
  Status EnableInOwn(const std::string& controller) {
    const std::string file = own_ + "/cgroup.subtree_control";
    KILN_ASSIGN_OR_RETURN(std::string enabled, ReadFile(file));
    if (HasWord(enabled, controller)) return OkStatus();
    int err = TryWrite(file, "+" + controller);
    if (err == EBUSY && !leaf_) {  // the daemon itself is the process in the way
      KILN_RETURN_IF_ERROR(MoveSelfToLeaf());
      err = TryWrite(file, "+" + controller);
    }
    if (err == 0) {
      enabled_in_own_.push_back(controller);
      return OkStatus();
    }
    Status st = ErrnoStatus("write(" + file + ", +" + controller + ")", err);
    if (err != EBUSY) return st;
    return Internal(st.message() + ": other processes share the daemon's cgroup " + own_ +
                    ", and cgroup v2 enables controllers only for groups without processes;"
                    " start kiln in a cgroup of its own (e.g. systemd Delegate=yes)");
  }

  Status MoveSelfToLeaf() {
    const std::string leaf = parent_ + "-daemon";
    if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir(" + leaf + ")");
    }
    leaf_ = leaf;
    return WriteFile(leaf + "/cgroup.procs", std::to_string(::getpid()));
  }

  std::string own_;                          // the daemon's own cgroup
  std::string parent_;                       // <own>/<prefix>-<pid>: the containers' parent
  std::optional<std::string> leaf_;          // where the daemon moved, if it had to
  std::vector<std::string> enabled_in_own_;  // controllers we enabled in own_, in order
  bool made_parent_ = false;
  Status pids_status_;
};

Result<std::unique_ptr<CgroupManager>> DetectV2(const std::string& prefix, const std::string& group) {
  KILN_ASSIGN_OR_RETURN(std::string own, OwnDir("cgroup2", ""));
  KILN_ASSIGN_OR_RETURN(std::string offered, ReadFile(own + "/cgroup.controllers"));
  if (!HasWord(offered, "memory")) {
    if (!offered.empty() && offered.back() == '\n') offered.pop_back();
    return NotFound("memory controller not offered in " + own +
                    "/cgroup.controllers (offered: " + (offered.empty() ? "none" : offered) + ")");
  }
  SweepStale(own, prefix);
  auto manager = std::make_unique<V2Manager>(own, own + "/" + group);
  KILN_RETURN_IF_ERROR(manager->Setup(HasWord(offered, "pids")));
  return std::unique_ptr<CgroupManager>(std::move(manager));
}

}  // namespace

Result<std::unique_ptr<CgroupManager>> CgroupManager::Detect(const std::string& name_prefix) {
  if (name_prefix.empty() || name_prefix.find('/') != std::string::npos) {
    return InvalidArgument("cgroup name prefix \"" + name_prefix + "\" is not a plain name");
  }
  const std::string group = name_prefix + "-" + std::to_string(::getpid());
  auto v2 = DetectV2(name_prefix, group);
  if (v2.ok()) return v2;
  auto v1 = DetectV1(name_prefix, group);
  if (v1.ok()) return v1;
  return Internal("cgroup v2: " + v2.status().message() + "; cgroup v1: " + v1.status().message());
}

}  // namespace kiln::sandbox
