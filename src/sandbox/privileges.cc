#include "sandbox/privileges.h"

#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace kiln::sandbox {
namespace {

// Debian's nobody:nogroup; also the overflow id the kernel shows for unmapped ids.
constexpr UnprivilegedIds kNobodyFallback = {65534, 65534};

// Capability sets are two 32-bit words in the version 3 ABI.
using CapabilityData = __user_cap_data_struct[_LINUX_CAPABILITY_U32S_3];

int Failed(const char* call, const char** failed_call) {
  int err = errno;
  if (failed_call != nullptr) *failed_call = call;
  return err;
}

int FailedWith(int err, const char* call, const char** failed_call) {
  errno = err;
  return Failed(call, failed_call);
}

// Raw capget/capset: libc has no wrapper, and libcap allocates.
long CapabilityCall(long nr, CapabilityData data) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(nr, &header, data);
}

// Needs CAP_SETPCAP, so it runs while the child is still root. Reads up to the
// first capability the kernel rejects, so capabilities newer than this build's
// headers are dropped too, without reading /proc/sys/kernel/cap_last_cap.
int EmptyBoundingSet(const char** failed_call) {
  for (unsigned long cap = 0; cap < 64; ++cap) {
    int held = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (held < 0 && errno == EINVAL && cap > 0) return 0;  // past the last capability
    if (held < 0) return Failed("prctl(PR_CAPBSET_READ)", failed_call);
    if (held == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return Failed("prctl(PR_CAPBSET_DROP)", failed_call);
    }
  }
  return 0;
}

// setgroups and setres[ug]id by raw syscall: glibc's wrappers apply the change to
// every thread of the process through signals and internal locks (POSIX wants ids
// per process; the kernel keeps them per thread). A forked child has one thread, and
// the raw call keeps this path clear of libc locks that another thread of the daemon
// may have held at the moment of fork.
// Groups before gid before uid: each step needs a privilege the next one removes.
int SwitchIds(uid_t uid, gid_t gid, const char** failed_call) {
  if (syscall(SYS_setgroups, 0, nullptr) != 0) return Failed("setgroups(0, NULL)", failed_call);
  if (syscall(SYS_setresgid, gid, gid, gid) != 0) return Failed("setresgid", failed_call);
  if (syscall(SYS_setresuid, uid, uid, uid) != 0) return Failed("setresuid", failed_call);
  return 0;
}

// Leaving uid 0 clears the permitted and effective sets but not the inheritable one,
// and securebits (SECBIT_KEEP_CAPS) could keep the others; set all three to empty.
int ClearCapabilities(const char** failed_call) {
  CapabilityData none = {};
  if (CapabilityCall(SYS_capset, none) != 0) return Failed("capset(empty)", failed_call);
  return 0;
}

// Reads back what the kernel now holds, so a silent partial drop cannot pass.
int VerifyDropped(uid_t uid, gid_t gid, const char** failed_call) {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (syscall(SYS_getresuid, &ruid, &euid, &suid) != 0) return Failed("getresuid", failed_call);
  if (syscall(SYS_getresgid, &rgid, &egid, &sgid) != 0) return Failed("getresgid", failed_call);
  if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
    return FailedWith(EPERM, "getresuid/getresgid (ids differ from those set)", failed_call);
  }
  long groups = syscall(SYS_getgroups, 0, nullptr);
  if (groups < 0) return Failed("getgroups", failed_call);
  if (groups != 0) return FailedWith(EPERM, "getgroups (supplementary groups remain)", failed_call);
  CapabilityData held = {};
  if (CapabilityCall(SYS_capget, held) != 0) return Failed("capget", failed_call);
  for (const auto& word : held) {
    if (word.effective != 0 || word.permitted != 0 || word.inheritable != 0) {
      return FailedWith(EPERM, "capget (capabilities remain)", failed_call);
    }
  }
  return 0;
}

}  // namespace

Result<UnprivilegedIds> LookupUnprivilegedUser(const std::string& user) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc;
  while ((rc = getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  // Not found may be reported as no entry or, by some NSS modules, as ENOENT/ESRCH.
  if ((rc == 0 && found == nullptr) || rc == ENOENT || rc == ESRCH) {
    return NotFound("no user " + user + " in the user database");
  }
  if (rc != 0) return ErrnoStatus("getpwnam_r(" + user + ")", rc);
  if (found->pw_uid == 0 || found->pw_gid == 0) {
    return InvalidArgument("user " + user + " has uid or gid 0; handlers never run as root");
  }
  return UnprivilegedIds{found->pw_uid, found->pw_gid};
}

Result<UnprivilegedIds> PickUnprivilegedIds() {
  Result<UnprivilegedIds> nobody = LookupUnprivilegedUser("nobody");
  if (!nobody.ok() && nobody.status().code() == Code::kNotFound) return kNobodyFallback;
  return nobody;
}

int DropPrivilegesInChild(uid_t uid, gid_t gid, const char** failed_call) {
  if (uid == 0 || gid == 0)
    return FailedWith(EINVAL, "DropPrivilegesInChild(uid or gid 0)", failed_call);
  if (int err = EmptyBoundingSet(failed_call)) return err;
  // EINVAL: a kernel older than ambient capabilities (4.3) has none to clear.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return Failed("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)", failed_call);
  }
  if (int err = SwitchIds(uid, gid, failed_call)) return err;
  if (int err = ClearCapabilities(failed_call)) return err;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Failed("prctl(PR_SET_NO_NEW_PRIVS, 1)", failed_call);
  }
  return VerifyDropped(uid, gid, failed_call);
}

int SetResourceLimitsInChild(rlim_t open_files, const char** failed_call) {
  const rlimit files = {open_files, open_files};
  if (setrlimit(RLIMIT_NOFILE, &files) != 0) return Failed("setrlimit(RLIMIT_NOFILE)", failed_call);
  const rlimit no_core = {0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0)
    return Failed("setrlimit(RLIMIT_CORE, 0)", failed_call);
  return 0;
}

}  // namespace kiln::sandbox
