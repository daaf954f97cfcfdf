// Runs against the host's real cgroups (as root); skips, saying why, where Detect fails.
#include "sandbox/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>

namespace kiln::sandbox {
namespace {

constexpr int64_t kMiB = 1 << 20;

// Writes to every page, so the memory is really charged to the cgroup.
int TouchMiB(int64_t mib) {
  const size_t size = static_cast<size_t>(mib * kMiB);
  void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 2;
  for (size_t off = 0; off < size; off += 4096) static_cast<char*>(mem)[off] = 1;
  return 0;
}

// Forks a child that waits until the parent has attached it to `group`, then exits with
// what `body` returns. If Attach fails the child exits 100 without running `body`.
pid_t ForkAttached(ContainerCgroup& group, const std::function<int()>& body) {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(go[1]);
    char c;
    ::_exit(::read(go[0], &c, 1) == 1 ? body() : 100);
  }
  ::close(go[0]);
  const Status st = group.Attach(pid);
  EXPECT_TRUE(st.ok()) << st.message();
  if (st.ok()) {
    EXPECT_EQ(::write(go[1], "x", 1), 1);
  }
  ::close(go[1]);
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

bool KilledBySigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

bool Gone(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

class CgroupTest : public ::testing::Test {
 protected:
  // Orphans of killed children come back to the test so it can reap them.
  static void SetUpTestSuite() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

  void SetUp() override {
    auto manager = CgroupManager::Detect("kiln-test");
    if (!manager.ok())
      GTEST_SKIP() << "cgroup memory: missing (" << manager.status().message() << ")";
    manager_ = std::move(*manager);
  }

  std::unique_ptr<ContainerCgroup> Create(const std::string& id, int64_t memory, int64_t pids) {
    auto group = manager_->Create(id, memory, pids);
    EXPECT_TRUE(group.ok()) << group.status().message();
    return group.ok() ? std::move(*group) : nullptr;
  }

  std::unique_ptr<CgroupManager> manager_;
};

TEST_F(CgroupTest, SaysWhichVersionItPicked) {
  const std::string what = manager_->describe();
  std::printf("[   info   ] %s\n", what.c_str());
  EXPECT_TRUE(what.starts_with("cgroup v1 (") || what.starts_with("cgroup v2 (")) << what;
}

TEST_F(CgroupTest, MemoryHogIsOomKilled) {
  auto group = Create("hog", 64 * kMiB, 64);
  ASSERT_NE(group, nullptr);
  const int status = Wait(ForkAttached(*group, [] { return TouchMiB(200); }));
  EXPECT_TRUE(KilledBySigkill(status)) << "wait status " << status;
  EXPECT_TRUE(group->OomKilled());
  const auto peak = group->PeakBytes();
  ASSERT_TRUE(peak.has_value());
  std::printf("[   info   ] 64 MiB limit, touched 200 MiB: peak %lld bytes (%.1f MiB)\n",
              static_cast<long long>(*peak), static_cast<double>(*peak) / kMiB);
  EXPECT_GE(*peak, 50 * kMiB);
  EXPECT_LE(*peak, 64 * kMiB);
}

TEST_F(CgroupTest, WellBehavedChildIsNotOomKilled) {
  auto group = Create("calm", 64 * kMiB, 64);
  ASSERT_NE(group, nullptr);
  const int status = Wait(ForkAttached(*group, [] { return TouchMiB(16); }));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
  EXPECT_FALSE(group->OomKilled());
  const auto peak = group->PeakBytes();
  ASSERT_TRUE(peak.has_value());
  std::printf("[   info   ] 64 MiB limit, touched 16 MiB: peak %.1f MiB\n",
              static_cast<double>(*peak) / kMiB);
  EXPECT_GE(*peak, 16 * kMiB);
  EXPECT_LT(*peak, 64 * kMiB);
}

struct ForkCounts {
  int forked = 0;
  int eagain = 0;
  int other = 0;
};

// Forks `n` sleepers, reports how many forks succeeded and how many failed, then kills
// and reaps the sleepers.
int ForkSleepers(int n, int report_fd) {
  std::vector<pid_t> sleepers;
  ForkCounts counts;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
    if (pid > 0) sleepers.push_back(pid);
    ++(pid > 0 ? counts.forked : errno == EAGAIN ? counts.eagain : counts.other);
  }
  const bool reported = ::write(report_fd, &counts, sizeof counts) == sizeof counts;
  for (pid_t pid : sleepers) ::kill(pid, SIGKILL);
  for (pid_t pid : sleepers) ::waitpid(pid, nullptr, 0);
  return reported ? 0 : 3;
}

TEST_F(CgroupTest, ForkBombStopsAtPidsLimit) {
  if (!manager_->pids_status().ok()) GTEST_SKIP() << manager_->pids_status().message();
  auto group = Create("forks", 256 * kMiB, 16);
  ASSERT_NE(group, nullptr);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t pid = ForkAttached(*group, [&] { return ForkSleepers(64, report[1]); });
  ::close(report[1]);
  ForkCounts counts;
  EXPECT_EQ(::read(report[0], &counts, sizeof counts), static_cast<ssize_t>(sizeof counts));
  ::close(report[0]);
  const int status = Wait(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
  std::printf("[   info   ] pids.max 16, 64 forks: %d succeeded, %d EAGAIN, %d other\n",
              counts.forked, counts.eagain, counts.other);
  EXPECT_EQ(counts.forked, 15);  // the forking child itself is the 16th
  EXPECT_EQ(counts.eagain, 49);
  EXPECT_EQ(counts.other, 0);
}

// A child that forks a grandchild, says so on `ready_fd`, and then both sleep.
int SleepWithGrandchild(int ready_fd) {
  if (::fork() == 0) ::pause();
  if (::write(ready_fd, "r", 1) != 1) return 3;
  ::pause();
  return 0;
}

TEST_F(CgroupTest, DestroyKillsWhatIsInsideAndRemovesTheGroup) {
  auto group = Create("live", 64 * kMiB, 16);
  ASSERT_NE(group, nullptr);
  const std::vector<std::string> dirs = group->dirs();
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  const pid_t pid = ForkAttached(*group, [&] { return SleepWithGrandchild(ready[1]); });
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);

  const auto start = std::chrono::steady_clock::now();
  const Status st = group->Destroy();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(st.ok()) << st.message();
  std::printf("[   info   ] Destroy with 2 live processes took %.2f ms\n",
              std::chrono::duration<double, std::milli>(took).count());
  for (const std::string& dir : dirs) EXPECT_TRUE(Gone(dir)) << dir;
  EXPECT_TRUE(group->dirs().empty());
  EXPECT_TRUE(KilledBySigkill(Wait(pid)));
  int status = 0;
  EXPECT_GT(::waitpid(-1, &status, 0), 0);  // the orphaned grandchild, via the subreaper
  EXPECT_TRUE(KilledBySigkill(status));
}

TEST_F(CgroupTest, ManagerRemovesItsGroupsEvenWithContainersLeft) {
  auto group = Create("left", 64 * kMiB, 16);
  ASSERT_NE(group, nullptr);
  const pid_t pid = ForkAttached(*group, [] { return ::pause(); });
  std::vector<std::string> paths = group->dirs();
  for (const std::string& dir : group->dirs()) paths.push_back(dir.substr(0, dir.rfind('/')));
  manager_.reset();
  for (const std::string& path : paths) EXPECT_TRUE(Gone(path)) << path;
  EXPECT_TRUE(KilledBySigkill(Wait(pid)));
  const Status st = group->Destroy();
  EXPECT_TRUE(st.ok()) << st.message();  // nothing left for it to do
}

// Stands in for a daemon that died by SIGKILL and whose pid this process now has.
TEST_F(CgroupTest, DetectEmptiesAParentLeftBehind) {
  auto stale = Create("stale", 64 * kMiB, 16);
  ASSERT_NE(stale, nullptr);
  const pid_t pid = ForkAttached(*stale, [] { return ::pause(); });
  auto again = CgroupManager::Detect("kiln-test");
  ASSERT_TRUE(again.ok()) << again.status().message();
  for (const std::string& dir : stale->dirs()) EXPECT_TRUE(Gone(dir)) << dir;
  EXPECT_TRUE(KilledBySigkill(Wait(pid)));
  auto fresh = (*again)->Create("fresh", 64 * kMiB, 16);
  EXPECT_TRUE(fresh.ok()) << fresh.status().message();
}

TEST_F(CgroupTest, DetectRemovesGroupsOfDaemonsThatDied) {
  auto group = Create("probe", 64 * kMiB, 16);
  ASSERT_NE(group, nullptr);
  // A sibling parent named after a pid that no longer runs, with a container inside.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  Wait(dead);
  std::vector<std::string> stale;
  for (const std::string& dir : group->dirs()) {
    std::string own = dir.substr(0, dir.rfind('/'));
    own = own.substr(0, own.rfind('/'));
    stale.push_back(own + "/kiln-test-" + std::to_string(dead));
    ASSERT_EQ(::mkdir(stale.back().c_str(), 0755), 0) << stale.back();
    ASSERT_EQ(::mkdir((stale.back() + "/c-1").c_str(), 0755), 0);
  }
  auto again = CgroupManager::Detect("kiln-test");
  ASSERT_TRUE(again.ok()) << again.status().message();
  for (const std::string& dir : stale) EXPECT_TRUE(Gone(dir)) << dir;
}

TEST_F(CgroupTest, ErrorsNameTheFileAndErrno) {
  auto escape = manager_->Create("../escape", 64 * kMiB, 16);
  EXPECT_EQ(escape.status().code(), Code::kInvalidArgument);

  auto first = Create("twice", 64 * kMiB, 16);
  auto second = manager_->Create("twice", 64 * kMiB, 16);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("mkdir("), std::string::npos);
  EXPECT_NE(second.status().message().find("(errno 17)"), std::string::npos);
  std::printf("[   info   ] %s\n", second.status().message().c_str());

  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  Wait(dead);
  const Status st = first->Attach(dead);
  EXPECT_NE(st.message().find("/cgroup.procs, " + std::to_string(dead) + ")"), std::string::npos);
  EXPECT_NE(st.message().find("(errno 3)"), std::string::npos);  // ESRCH
  std::printf("[   info   ] %s\n", st.message().c_str());
}

}  // namespace
}  // namespace kiln::sandbox
