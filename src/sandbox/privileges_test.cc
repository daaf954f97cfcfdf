#include "sandbox/privileges.h"

#include "sandbox/test_util/child_checks.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace kiln::sandbox {
namespace {

using test_util::ChildChecks;

// The child's report: empty when every check held and it exited cleanly.
template <typename Body>
std::string ChildReport(Body body) {
  return test_util::ReportOf(test_util::RunInChild(body));
}

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Child side: drops to nobody, or reports why not and ends the child.
void DropToNobody(ChildChecks& checks) {
  const char* call = "";
  int err = DropPrivilegesInChild(kNobody, kNogroup, &call);
  if (err != 0) {
    checks.Report("%s: %s", call, strerrorname_np(err));
    _exit(1);
  }
}

class DropPrivilegesTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "dropping privileges needs root";
  }
};

TEST_F(DropPrivilegesTest, RunsAsTheGivenIdsWithNoGroups) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              const gid_t daemon_groups[] = {0, 42};  // as if the daemon had some
              c.Expect(setgroups(2, daemon_groups) == 0, "setgroups(0, 42) failed");
              DropToNobody(c);
              uid_t r, e, s;
              getresuid(&r, &e, &s);
              c.Expect(r == kNobody && e == kNobody && s == kNobody,
                       "uid is not 65534 in every slot");
              gid_t rg, eg, sg;
              getresgid(&rg, &eg, &sg);
              c.Expect(rg == kNogroup && eg == kNogroup && sg == kNogroup,
                       "gid is not 65534 in every slot");
              c.Expect(getgroups(0, nullptr) == 0, "supplementary groups remain");
            }),
            "");
}

TEST_F(DropPrivilegesTest, CannotReadShadow) {
  struct stat st {};
  if (stat("/etc/shadow", &st) != 0 || (st.st_mode & S_IROTH) != 0) {
    GTEST_SKIP() << "no /etc/shadow closed to others on this host";
  }
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              DropToNobody(c);
              c.ExpectErrno(open("/etc/shadow", O_RDONLY), EACCES, "open(/etc/shadow)");
            }),
            "");
}

TEST_F(DropPrivilegesTest, HoldsNoCapabilities) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              DropToNobody(c);
              __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
              __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
              c.Expect(syscall(SYS_capget, &header, data) == 0, "capget failed");
              for (const auto& word : data) {
                c.Expect(word.effective == 0, "effective capabilities remain");
                c.Expect(word.permitted == 0, "permitted capabilities remain");
                c.Expect(word.inheritable == 0, "inheritable capabilities remain");
              }
              for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
                if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
                  c.Report("bounding set holds %d", cap);
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 0) {
                  c.Report("ambient set holds %d", cap);
                }
              }
            }),
            "");
}

// Leaving uid 0 clears permitted and effective but not inheritable capabilities.
TEST_F(DropPrivilegesTest, ClearsInheritableCapabilities) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
              __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
              syscall(SYS_capget, &header, data);
              data[0].inheritable = 1u << CAP_NET_BIND_SERVICE;
              c.Expect(syscall(SYS_capset, &header, data) == 0, "capset(inheritable) failed");
              DropToNobody(c);
              syscall(SYS_capget, &header, data);
              c.Expect(data[0].inheritable == 0, "inheritable capabilities remain");
            }),
            "");
}

TEST_F(DropPrivilegesTest, SetsNoNewPrivs) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              DropToNobody(c);
              c.Expect(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs is not set");
            }),
            "");
}

TEST_F(DropPrivilegesTest, CannotBecomeRootAgain) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              DropToNobody(c);
              c.ExpectErrno(setuid(0), EPERM, "setuid(0)");
              c.ExpectErrno(setgid(0), EPERM, "setgid(0)");
              c.ExpectErrno(syscall(SYS_setresuid, 0, 0, 0), EPERM, "setresuid(0, 0, 0)");
            }),
            "");
}

// The guard fires before any step: the child is still root afterwards.
TEST_F(DropPrivilegesTest, RefusesUidOrGidZero) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              const char* call = nullptr;
              c.Expect(DropPrivilegesInChild(0, kNogroup, &call) == EINVAL, "uid 0 accepted");
              c.Expect(call != nullptr && std::strstr(call, "uid or gid 0") != nullptr,
                       "refusal does not name the reason");
              c.Expect(DropPrivilegesInChild(kNobody, 0, &call) == EINVAL, "gid 0 accepted");
              c.Expect(geteuid() == 0, "a refused drop changed the uid");
            }),
            "");
}

// A second drop, now without privilege, fails at its first privileged step and says
// which (the bounding set is already empty, so nothing is dropped before it).
TEST_F(DropPrivilegesTest, NamesTheCallThatFailed) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              DropToNobody(c);
              const char* call = nullptr;
              c.Expect(DropPrivilegesInChild(1000, 1000, &call) == EPERM, "second drop not EPERM");
              c.Expect(call != nullptr && std::strcmp(call, "setgroups(0, NULL)") == 0,
                       "failed call is not setgroups(0, NULL)");
            }),
            "");
}

TEST(ResourceLimits, CapOpenFilesAndDisableCores) {
  EXPECT_EQ(ChildReport([](ChildChecks& c) {
              const char* call = "";
              int err = SetResourceLimitsInChild(kHandlerOpenFileLimit, &call);
              if (err != 0) c.Report("%s: %s", call, strerrorname_np(err));
              rlimit files{}, core{};
              getrlimit(RLIMIT_NOFILE, &files);
              getrlimit(RLIMIT_CORE, &core);
              c.Expect(files.rlim_cur == 1024 && files.rlim_max == 1024,
                       "RLIMIT_NOFILE is not 1024");
              c.Expect(core.rlim_cur == 0 && core.rlim_max == 0, "RLIMIT_CORE is not 0");
              // /proc/self stays readable to the handler only while it is dumpable.
              c.Expect(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1, "process made undumpable");
            }),
            "");
}

TEST(UnprivilegedIds, PicksNobody) {
  Result<UnprivilegedIds> ids = PickUnprivilegedIds();
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_NE(ids->uid, 0u);
  EXPECT_NE(ids->gid, 0u);
  if (getpwnam("nobody") != nullptr) {
    EXPECT_EQ(ids->uid, getpwnam("nobody")->pw_uid);
    EXPECT_EQ(ids->gid, getpwnam("nobody")->pw_gid);
  } else {
    EXPECT_EQ(ids->uid, 65534u);
    EXPECT_EQ(ids->gid, 65534u);
  }
}

TEST(UnprivilegedIds, RefusesRoot) {
  Result<UnprivilegedIds> ids = LookupUnprivilegedUser("root");
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), Code::kInvalidArgument);
}

TEST(UnprivilegedIds, ReportsAMissingUser) {
  Result<UnprivilegedIds> ids = LookupUnprivilegedUser("kiln-no-such-user");
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace kiln::sandbox
