// DESIGN: the seccomp filter every container runs under.
//
// Model: a deny list over a default of ALLOW. The handler is arbitrary Python with
// native extensions, so an allow list would break on the first library that uses a
// syscall nobody foresaw; instead the filter closes the kernel facilities a handler
// never needs and that an escape starts from: mounts, namespaces, ptrace and other
// processes' memory, kernel code and programs (modules, kexec, bpf, perf), the
// (un-namespaced) kernel keyrings, file handles, host-wide switches, userfaultfd,
// io_uring (whose operations run where seccomp cannot see them), namespace-creating
// clone flags, every socket family but AF_UNIX, AF_INET, AF_INET6 and NETLINK_ROUTE
// (the list and the reasons: seccomp_policy.cc), and raw IP sockets. Reviewed against
// Docker's default profile (moby profiles/seccomp) and gVisor's syscall table: what
// they refuse and Python needs nothing of is refused here too. Denied calls fail
// with EPERM, so the handler sees an ordinary error and the run continues. Syscalls
// of any other ABI (i386 via int 0x80, x32) kill the process: the deny list is
// written in native numbers and would not match theirs.
//
// Where it runs: BuildSeccompProgram() in the daemon (the parent), once, at any time
// before fork: libseccomp allocates, so it cannot run between fork and exec. It
// compiles the policy to classic BPF and keeps the instructions. InstallInChild() runs
// in the child between fork and exec and is async-signal-safe: two prctl() calls over
// memory the child inherited, no allocation, no lock.
//
// Guarantees: after InstallInChild() returns 0 the calling thread (the only thread of
// a freshly forked child) and everything it execs or forks are filtered for life;
// no_new_privs is set. Install it last, just before execve: the filter denies mount,
// pivot_root and unshare, which the namespace setup before it needs.
//
// Supported architectures: x86_64 and aarch64, where clone() takes its flags in the
// first argument (on s390 it is the second, and the clone rules would not match).
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kiln::sandbox {

// A compiled filter: immutable, cheap to share by const reference across spawns.
class SeccompProgram {
 public:
  SeccompProgram(std::vector<sock_filter> instructions, std::vector<std::string> denied,
                 std::vector<std::string> restricted)
      : instructions_(std::move(instructions)),
        denied_(std::move(denied)),
        restricted_(std::move(restricted)) {}

  // Child side, between fork and exec; async-signal-safe. Sets no_new_privs (which
  // lets an unprivileged process install a filter and bars setuid gains through exec),
  // then installs the filter. Returns 0, or an errno with *failed_call naming the call
  // (a static string; failed_call may be null).
  int InstallInChild(const char** failed_call) const;

  // Syscalls denied whatever their arguments, in native names ("mount", "clone3").
  const std::vector<std::string>& denied_syscalls() const { return denied_; }
  // Syscalls denied for some arguments only, described for `kiln doctor`
  // ("clone (namespace flags)").
  const std::vector<std::string>& restricted_syscalls() const { return restricted_; }
  size_t instruction_count() const { return instructions_.size(); }

 private:
  std::vector<sock_filter> instructions_;
  std::vector<std::string> denied_;
  std::vector<std::string> restricted_;
};

// Parent side: compiles the policy for the native architecture. Fails (naming the
// libseccomp call) if libseccomp or the kernel lacks something the policy needs;
// the caller then reports seccomp as missing rather than running without it silently.
Result<SeccompProgram> BuildSeccompProgram();

}  // namespace kiln::sandbox
