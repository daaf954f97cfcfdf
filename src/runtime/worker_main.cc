// kiln-worker: one container's process. It embeds CPython, says HELLO on the
// channel (fd 3), applies the per-container INIT (env, sys.path, handler import: the
// timed init phase), then answers INVOKE frames one at a time until the channel
// closes. stdout/stderr (fd 1/2) are the run logs; the daemon reads them.
//
// Fork sources (sandbox/fork_server.h, protocol.h):
//   kiln-worker --zygote: after HELLO it imports what PRELOAD names, then forks on
//     request; each child goes on as a container from its HELLO, INIT onwards.
//   a container asked for a SNAPSHOT after its init checks it is safe to fork; if
//     so it becomes its version's template and forks on request; each child runs
//     the after_restore hooks, says HELLO and serves INVOKEs (no INIT: it is done).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>

#include "runtime/protocol.h"
#include "runtime/python_host.h"
#include "sandbox/fork_server.h"

namespace {

using kiln::protocol::FrameType;
using kiln::runtime::PythonHost;
using Frame = std::optional<kiln::protocol::Frame>;

constexpr int kChannelFd = 3;

int Fail(const kiln::Status& st) {
  std::fprintf(stderr, "kiln-worker: %s\n", st.message().c_str());
  return 1;
}

bool Ok(const std::string& header) { return nlohmann::json::parse(header, nullptr, false).value("ok", false); }

kiln::Result<Frame> Read() {
  PythonHost::ReleaseGil unlocked;
  return kiln::protocol::ReadFrame(kChannelFd);
}

const kiln::sandbox::ForkHooks kHooks{PythonHost::BeforeFork, PythonHost::AfterForkInParent};

// Serves forks until the daemon lets go of this source (false) or returns in a
// child (true) whose CPython has done its after-fork bookkeeping.
kiln::Result<bool> BecomeForkSource(kiln::sandbox::ForkSourceKind kind) {
  KILN_ASSIGN_OR_RETURN(bool child, kiln::sandbox::ServeForks(kind, kHooks));
  if (child) PythonHost::AfterForkInChild();
  return child;
}

// The daemon kills whatever a run left running (sandbox/leftovers.h); the zombies of
// those that were this process's children, or orphans it adopted as PID 1 of its
// namespace, are reaped here before the next run, so they hold no pids of its budget.
void ReapExitedChildren() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// INVOKE -> RESULT until the channel closes; SNAPSHOT turns this container into a
// template, and its children continue here.
int ServeInvokes(PythonHost& host) {
  for (;;) {
    auto frame = Read();
    if (!frame.ok()) return Fail(frame.status());
    if (!frame->has_value()) return 0;  // the daemon closed the channel: retire
    if ((*frame)->type == FrameType::kSnapshot) {
      auto verdict = host.CheckSnapshot();
      if (!verdict.ok()) return Fail(verdict.status());
      if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kSnapshotDone, *verdict, ""); !st.ok()) {
        return Fail(st);
      }
      // Refused, or only asked whether it could: it stays an ordinary container.
      if (!Ok(*verdict) || nlohmann::json::parse((*frame)->header, nullptr, false).value("check_only", false)) {
        continue;
      }
      auto child = BecomeForkSource(kiln::sandbox::ForkSourceKind::kTemplate);
      if (!child.ok()) return Fail(child.status());
      if (!*child) return 0;
      auto hello = host.Restore();
      if (!hello.ok()) return Fail(hello.status());
      if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kHello, *hello, ""); !st.ok()) return Fail(st);
      if (!Ok(*hello)) return 0;  // an after_restore hook failed: reported, this child retires
      continue;
    }
    if ((*frame)->type != FrameType::kInvoke) return Fail(kiln::Internal("unexpected frame"));
    ReapExitedChildren();
    auto result = host.Invoke((*frame)->header, (*frame)->payload);
    if (!result.ok()) return Fail(result.status());
    std::fflush(nullptr);  // native stdio buffers belong to this run's logs
    if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kResult, result->first, result->second);
        !st.ok()) {
      return Fail(st);
    }
  }
}

// HELLO, INIT, INIT_DONE, then invocations.
int ServeContainer(PythonHost& host) {
  nlohmann::json hello = {{"protocol", kiln::protocol::kVersion}, {"pid", getpid()}};
  if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kHello, hello.dump(), ""); !st.ok()) {
    return Fail(st);
  }
  auto init = Read();
  if (!init.ok()) return Fail(init.status());
  if (!init->has_value() || (*init)->type != FrameType::kInit) return 0;
  auto done = host.Init((*init)->header);
  if (!done.ok()) return Fail(done.status());
  if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kInitDone, *done, ""); !st.ok()) return Fail(st);
  // A failed init is reported once; the daemon remembers it, so this worker retires.
  if (!Ok(*done)) return 0;
  return ServeInvokes(host);
}

// HELLO, PRELOAD, PRELOAD_DONE, then forks; returns in each child.
int ServeZygote(PythonHost& host) {
  nlohmann::json hello = {{"protocol", kiln::protocol::kVersion}, {"pid", getpid()}, {"zygote", true}};
  if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kHello, hello.dump(), ""); !st.ok()) {
    return Fail(st);
  }
  auto preload = Read();
  if (!preload.ok()) return Fail(preload.status());
  if (!preload->has_value() || (*preload)->type != FrameType::kPreload) return 0;
  auto done = host.Preload((*preload)->header);
  if (!done.ok()) return Fail(done.status());
  if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kPreloadDone, *done, ""); !st.ok()) {
    return Fail(st);
  }
  if (!Ok(*done)) return 0;
  auto child = BecomeForkSource(kiln::sandbox::ForkSourceKind::kZygote);
  if (!child.ok()) return Fail(child.status());
  if (!*child) return 0;
  return ServeContainer(host);
}

}  // namespace

int main(int argc, char** argv) {
  auto host = PythonHost::Create();
  if (!host.ok()) return Fail(host.status());
  const bool zygote = argc > 1 && std::string_view(argv[1]) == "--zygote";
  return zygote ? ServeZygote(**host) : ServeContainer(**host);
}
