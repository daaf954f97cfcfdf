// Runs against the host's real cgroups (as root); skips, saying why, where Detect fails.
#include "sandbox/leftovers.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

namespace kiln::sandbox {
namespace {

// A child that waits until it is in `group`, then spins (or sleeps) until killed.
pid_t ForkInto(ContainerCgroup& group, bool busy) {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(go[1]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(100);
    for (;;) {
      if (!busy) ::pause();
    }
  }
  ::close(go[0]);
  EXPECT_TRUE(group.Attach(pid).ok());
  EXPECT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  return pid;
}

template <typename T>
T Or(const Result<T>& r, T failed) {
  return r.ok() ? *r : failed;
}

int Wait(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

class LeftoversTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto manager = CgroupManager::Detect("kiln-test-leftovers");
    if (!manager.ok()) GTEST_SKIP() << "cgroup memory: missing (" << manager.status().message() << ")";
    manager_ = std::move(*manager);
    auto group = manager_->Create("c-leftovers", 64 << 20, 64);
    ASSERT_TRUE(group.ok()) << group.status().message();
    group_ = std::move(*group);
  }

  std::unique_ptr<CgroupManager> manager_;
  std::unique_ptr<ContainerCgroup> group_;
};

TEST_F(LeftoversTest, KillsEveryProcessButTheWorker) {
  const pid_t worker = ForkInto(*group_, /*busy=*/false);
  std::vector<pid_t> left;
  for (int i = 0; i < 3; ++i) left.push_back(ForkInto(*group_, /*busy=*/true));

  Result<size_t> killed = KillLeftovers(*group_, worker);
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  EXPECT_EQ(*killed, 3u);
  for (pid_t pid : left) {
    int status = Wait(pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << pid;
  }
  auto procs = group_->Procs();
  ASSERT_TRUE(procs.ok()) << procs.status().message();
  EXPECT_EQ(*procs, std::vector<pid_t>{worker});

  ::kill(worker, SIGKILL);
  Wait(worker);
}

TEST_F(LeftoversTest, NothingLeftIsNothingKilled) {
  const pid_t worker = ForkInto(*group_, /*busy=*/false);
  Result<size_t> killed = KillLeftovers(*group_, worker);
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  EXPECT_EQ(*killed, 0u);
  ::kill(worker, SIGKILL);
  Wait(worker);
}

TEST_F(LeftoversTest, TaskCountIsReadAgainThroughTheKeptDescriptor) {
  if (!manager_->pids_status().ok()) GTEST_SKIP() << "no pids controller: " << manager_->pids_status().message();
  EXPECT_EQ(Or(group_->TaskCount(), int64_t{-1}), 0);
  const pid_t worker = ForkInto(*group_, /*busy=*/false);
  EXPECT_EQ(Or(group_->TaskCount(), int64_t{-1}), 1);
  const pid_t other = ForkInto(*group_, /*busy=*/false);
  EXPECT_EQ(Or(group_->TaskCount(), int64_t{-1}), 2);
  for (pid_t pid : {worker, other}) {
    ::kill(pid, SIGKILL);
    Wait(pid);
  }
  EXPECT_EQ(Or(group_->TaskCount(), int64_t{-1}), 0);
}

// The check a container keeps: nothing but the worker costs no list; a process beside
// it, and a zombie it has not reaped, are found and handled by the full pass.
TEST_F(LeftoversTest, TheKeptCheckFindsWhatTheFullPassFinds) {
  const pid_t worker = ForkInto(*group_, /*busy=*/false);
  Leftovers leftovers(group_.get(), worker);
  EXPECT_EQ(Or(leftovers.Kill(), size_t{99}), 0u);
  const pid_t left = ForkInto(*group_, /*busy=*/true);
  EXPECT_EQ(Or(leftovers.Kill(), size_t{99}), 1u);
  int status = Wait(left);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(Or(leftovers.Kill(), size_t{99}), 0u);
  ::kill(worker, SIGKILL);
  Wait(worker);
  // The worker gone, its stat unreadable: the full pass answers, and finds nobody.
  EXPECT_EQ(Or(leftovers.Kill(), size_t{99}), 0u);
}

}  // namespace
}  // namespace kiln::sandbox
