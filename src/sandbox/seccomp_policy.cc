#include "sandbox/seccomp_policy.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <iterator>
#include <memory>

#include "common/unique_fd.h"

namespace kiln::sandbox {
namespace {

// Denied whatever the arguments. Grouped by what each would give a handler, one
// group a line (clang-format would put every name on a line of its own).
// clang-format off
constexpr const char* kDeniedSyscalls[] = {
    // Changing the filesystem the spawner built, through the classic mount API or the
    // new one (fsopen, fsmount and move_mount mount a filesystem as well as mount does).
    "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr",
    // Leaving or making namespaces.
    "unshare", "setns",
    // Reading or steering other processes.
    "ptrace", "process_vm_readv", "process_vm_writev",
    // Loading code or programs into the kernel.
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open",
    // Kernel keyrings are not namespaced: keys would be shared with the host.
    "keyctl", "add_key", "request_key",
    // File handles open files by inode number, bypassing the mount namespace.
    "open_by_handle_at", "name_to_handle_at",
    // Host-wide switches.
    "swapon", "swapoff", "reboot", "acct", "quotactl",
    // Lets a process stall the kernel on a page fault: a staple of kernel exploits.
    "userfaultfd",
    // io_uring: its operations run in kernel workers that this filter never sees (an
    // IORING_OP_SOCKET or OPENAT would bypass every rule here), and it has been the
    // kernel's largest source of privilege escalations; Docker's profile and gVisor
    // refuse it too. Python, numpy and onnxruntime never use it.
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    // Other processes, beyond ptrace (Docker: only with CAP_SYS_PTRACE).
    "kcmp", "pidfd_getfd", "process_madvise",
    // The kernel's log and profiling hooks: host information (Docker: CAP_SYSLOG,
    // CAP_SYS_ADMIN).
    "syslog", "lookup_dcookie", "fanotify_init",
    // Hardware I/O ports and the host's clock (CAP_SYS_RAWIO, CAP_SYS_TIME: the worker
    // has neither; denied here as well, as Docker does).
    "iopl", "ioperm", "settimeofday", "clock_settime",
    // Obsolete calls no runtime needs, kept out as Docker keeps them out.
    "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "vhangup", "chroot",
};
// clang-format on

constexpr uint32_t kDeny = SCMP_ACT_ERRNO(EPERM);

// clone3 passes its flags inside a struct in user memory, which seccomp cannot read,
// so its namespace flags cannot be filtered. ENOSYS (not EPERM) makes glibc fall back
// to clone(), whose flags are a register the filter can check; threads, fork and
// posix_spawn keep working.
constexpr uint32_t kCloneThreeAction = SCMP_ACT_ERRNO(ENOSYS);

// Each flag gets its own rule: a masked compare tests one bit pattern.
constexpr uint64_t kNamespaceCloneFlags[] = {CLONE_NEWNS,    CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER,  CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWCGROUP};

// socket() takes int arguments, and the kernel ignores the upper half of their
// registers. A 64-bit equality test could be dodged by setting those bits, so
// compare only the low 32 bits.
constexpr uint64_t kLow32 = 0xffffffff;
// The type argument carries SOCK_CLOEXEC and SOCK_NONBLOCK above the type proper.
constexpr uint64_t kSocketTypeMask = 0xf;

scmp_arg_cmp MaskedEq(unsigned arg, uint64_t mask, uint64_t value) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, mask, value};
}

// libseccomp returns -errno.
Status SeccompError(const std::string& call, int rc) { return ErrnoStatus(call, -rc); }

struct FilterRelease {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using FilterContext = std::unique_ptr<void, FilterRelease>;

Result<FilterContext> NewFilter() {
  FilterContext ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Internal("seccomp_init(SCMP_ACT_ALLOW) failed");
  // The deny list is written in native syscall numbers; a call through another ABI
  // (int 0x80 on x86_64) would carry different numbers and slip past it. Only the
  // native architecture is in the filter, so every other one takes this action.
  // libseccomp also routes x32 numbers on x86_64 here. Kill the whole process: killing
  // one thread would leave the rest running in an undefined state.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) return SeccompError("seccomp_attr_set(ACT_BADARCH, KILL_PROCESS)", rc);
  return ctx;
}

Status DenyAlways(scmp_filter_ctx ctx, std::vector<std::string>* denied) {
  for (const char* name : kDeniedSyscalls) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return Internal(std::string("libseccomp does not know ") + name);
    if (nr < 0) continue;  // a pseudo number: the syscall does not exist on this architecture
    int rc = seccomp_rule_add(ctx, kDeny, nr, 0);
    if (rc != 0) return SeccompError(std::string("seccomp_rule_add(") + name + ")", rc);
    denied->push_back(name);
  }
  int rc = seccomp_rule_add(ctx, kCloneThreeAction, SCMP_SYS(clone3), 0);
  if (rc != 0) return SeccompError("seccomp_rule_add(clone3)", rc);
  denied->push_back("clone3");
  return OkStatus();
}

Status DenyNamespaceClone(scmp_filter_ctx ctx) {
  for (uint64_t flag : kNamespaceCloneFlags) {
    int rc = seccomp_rule_add(ctx, kDeny, SCMP_SYS(clone), 1, MaskedEq(0, flag, flag));
    if (rc != 0)
      return SeccompError("seccomp_rule_add(clone, flag " + std::to_string(flag) + ")", rc);
  }
  return OkStatus();
}

// Socket families, by the rule of the network namespace: a container has loopback
// only, so a family is allowed when Python, numpy, onnxruntime or their libraries use
// it there, and denied otherwise (each denied family is kernel code the handler could
// reach and nothing of ours needs):
//   allowed  AF_UNIX     pipes between processes (multiprocessing, logging handlers)
//            AF_INET     loopback TCP/UDP (a handler's own helper servers, tests)
//            AF_INET6    the same over ::1 (getaddrinfo asks for both)
//            AF_NETLINK  NETLINK_ROUTE only: glibc's getaddrinfo(AI_ADDRCONFIG) and
//                        getifaddrs read interfaces through it; every other netlink
//                        protocol (xfrm, netfilter, audit, uevents, ...) is denied
//   denied   every other family, up to any added after this was written: AF_PACKET
//            (sees and forges frames), AF_VSOCK (reaches the hypervisor or host
//            services outside the network namespace), AF_BLUETOOTH, AF_ALG (kernel
//            crypto API, a history of exploits), AF_KEY and AF_XDP (IPsec keys,
//            raw frames), AF_RDS, AF_TIPC, AF_CAN, AF_X25, AF_AX25, AF_NETROM,
//            AF_ROSE, AF_APPLETALK, AF_ATMPVC/SVC, AF_IRDA, AF_LLC, AF_IEEE802154,
//            AF_PPPOX, AF_ISDN, AF_PHONET, AF_CAIF, AF_NFC, AF_KCM, AF_QIPCRTR,
//            AF_SMC, AF_MCTP, ...
//   and in the allowed IP families, raw sockets (forge headers) and SOCK_PACKET (the
//   obsolete spelling of a packet socket, which the kernel still honours).
// socketpair() creates sockets of its family too, so it gets the same family rules.
constexpr int kAllowedFamilies[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
constexpr int kHighestAllowedFamily = AF_NETLINK;

struct SocketCall {
  int nr;
  const char* name;
};

Status AddSocketRule(scmp_filter_ctx ctx, SocketCall call, const std::string& what, unsigned count,
                     const scmp_arg_cmp* args) {
  int rc = seccomp_rule_add_array(ctx, kDeny, call.nr, count, args);
  if (rc != 0) return SeccompError(std::string("seccomp_rule_add(") + call.name + ", " + what + ")", rc);
  return OkStatus();
}

Status DenySocketFamilies(scmp_filter_ctx ctx, SocketCall call) {
  // Above the highest allowed family, compared on all 64 bits: a family with high
  // bits set (which the kernel would truncate to an allowed one) is denied as well.
  const scmp_arg_cmp above{0, SCMP_CMP_GT, static_cast<uint64_t>(kHighestAllowedFamily), 0};
  KILN_RETURN_IF_ERROR(AddSocketRule(ctx, call, "families above AF_NETLINK", 1, &above));
  for (int family = AF_UNSPEC + 1; family < kHighestAllowedFamily; ++family) {
    if (std::find(std::begin(kAllowedFamilies), std::end(kAllowedFamilies), family) != std::end(kAllowedFamilies)) {
      continue;
    }
    const scmp_arg_cmp is_family = MaskedEq(0, kLow32, static_cast<uint64_t>(family));
    KILN_RETURN_IF_ERROR(AddSocketRule(ctx, call, "family " + std::to_string(family), 1, &is_family));
  }
  // Netlink other than NETLINK_ROUTE (protocol 0), on all 64 bits as above.
  const scmp_arg_cmp netlink[] = {MaskedEq(0, kLow32, AF_NETLINK), {2, SCMP_CMP_NE, NETLINK_ROUTE, 0}};
  return AddSocketRule(ctx, call, "AF_NETLINK other than NETLINK_ROUTE", 2, netlink);
}

Status DenyRawSockets(scmp_filter_ctx ctx) {
  struct Rule {
    int family;
    int type;
    const char* what;
  };
  constexpr Rule kRules[] = {{AF_INET, SOCK_RAW, "AF_INET, SOCK_RAW"},
                             {AF_INET6, SOCK_RAW, "AF_INET6, SOCK_RAW"},
                             {AF_INET, SOCK_PACKET, "AF_INET, SOCK_PACKET"}};
  for (const Rule& r : kRules) {
    const scmp_arg_cmp args[] = {MaskedEq(0, kLow32, r.family), MaskedEq(1, kSocketTypeMask, r.type)};
    KILN_RETURN_IF_ERROR(AddSocketRule(ctx, {SCMP_SYS(socket), "socket"}, r.what, 2, args));
  }
  return OkStatus();
}

// libseccomp 2.5 can only export to a descriptor, so export into a memfd and read
// the instructions back.
Result<std::vector<sock_filter>> ExportBpf(scmp_filter_ctx ctx) {
  UniqueFd fd(memfd_create("kiln-seccomp-bpf", MFD_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("memfd_create(kiln-seccomp-bpf)");
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc != 0) return SeccompError("seccomp_export_bpf", rc);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat(seccomp memfd)");
  size_t size = static_cast<size_t>(st.st_size);
  size_t count = size / sizeof(sock_filter);
  if (size % sizeof(sock_filter) != 0 || count == 0 || count > BPF_MAXINSNS) {
    return Internal("seccomp_export_bpf wrote " + std::to_string(size) +
                    " bytes: not a loadable BPF program");
  }
  std::vector<sock_filter> program(count);
  auto* out = reinterpret_cast<char*>(program.data());
  for (size_t done = 0; done < size;) {
    ssize_t n = pread(fd.get(), out + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return n < 0 ? ErrnoStatus("pread(seccomp memfd)") : Internal("seccomp memfd short");
    done += static_cast<size_t>(n);
  }
  return program;
}

int Failed(const char* call, const char** failed_call) {
  int err = errno;
  if (failed_call != nullptr) *failed_call = call;
  return err;
}

}  // namespace

Result<SeccompProgram> BuildSeccompProgram() {
  KILN_ASSIGN_OR_RETURN(FilterContext ctx, NewFilter());
  std::vector<std::string> denied;
  KILN_RETURN_IF_ERROR(DenyAlways(ctx.get(), &denied));
  KILN_RETURN_IF_ERROR(DenyNamespaceClone(ctx.get()));
  KILN_RETURN_IF_ERROR(DenySocketFamilies(ctx.get(), {SCMP_SYS(socket), "socket"}));
  KILN_RETURN_IF_ERROR(DenySocketFamilies(ctx.get(), {SCMP_SYS(socketpair), "socketpair"}));
  KILN_RETURN_IF_ERROR(DenyRawSockets(ctx.get()));
  KILN_ASSIGN_OR_RETURN(std::vector<sock_filter> program, ExportBpf(ctx.get()));
  std::vector<std::string> restricted = {
      "clone (namespace flags)",
      "socket (families other than AF_UNIX, AF_INET, AF_INET6, AF_NETLINK; netlink other than "
      "NETLINK_ROUTE; raw and packet IP sockets)",
      "socketpair (the same families)"};
  return SeccompProgram(std::move(program), std::move(denied), std::move(restricted));
}

int SeccompProgram::InstallInChild(const char** failed_call) const {
  // Built on the stack over the inherited vector: nothing is allocated here.
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(instructions_.size());
  prog.filter = const_cast<sock_filter*>(instructions_.data());
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Failed("prctl(PR_SET_NO_NEW_PRIVS, 1)", failed_call);
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    return Failed("prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)", failed_call);
  }
  return 0;
}

}  // namespace kiln::sandbox
