// kiln-worker: one container's process. It embeds CPython, says HELLO on the
// channel (fd 3), applies the per-container INIT (env, sys.path, handler import: the
// timed init phase), then answers INVOKE frames one at a time until the channel
// closes. stdout/stderr (fd 1/2) are the run logs; the daemon reads them.
//
// Everything per container happens after HELLO, so a zygote can later fork() here.
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "runtime/protocol.h"
#include "runtime/python_host.h"

namespace {

constexpr int kChannelFd = 3;

int Fail(const kiln::Status& st) {
  std::fprintf(stderr, "kiln-worker: %s\n", st.message().c_str());
  return 1;
}

}  // namespace

int main() {
  using kiln::protocol::FrameType;
  using kiln::runtime::PythonHost;

  auto host = PythonHost::Create();
  if (!host.ok()) return Fail(host.status());

  nlohmann::json hello = {{"protocol", kiln::protocol::kVersion}, {"pid", getpid()}};
  if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kHello, hello.dump(), "");
      !st.ok()) {
    return Fail(st);
  }

  kiln::Result<std::optional<kiln::protocol::Frame>> init = std::optional<kiln::protocol::Frame>();
  {
    PythonHost::ReleaseGil unlocked;
    init = kiln::protocol::ReadFrame(kChannelFd);
  }
  if (!init.ok()) return Fail(init.status());
  if (!init->has_value() || (*init)->type != FrameType::kInit) return 0;

  auto done = (*host)->Init((*init)->header);
  if (!done.ok()) return Fail(done.status());
  if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kInitDone, *done, ""); !st.ok()) {
    return Fail(st);
  }
  // A failed init is reported once; the daemon remembers it, so this worker retires.
  if (!nlohmann::json::parse(*done).value("ok", false)) return 0;

  for (;;) {
    kiln::Result<std::optional<kiln::protocol::Frame>> frame = std::optional<kiln::protocol::Frame>();
    {
      PythonHost::ReleaseGil unlocked;
      frame = kiln::protocol::ReadFrame(kChannelFd);
    }
    if (!frame.ok()) return Fail(frame.status());
    if (!frame->has_value()) return 0;  // the daemon closed the channel: retire
    if ((*frame)->type != FrameType::kInvoke) return Fail(kiln::Internal("unexpected frame"));
    auto result = (*host)->Invoke((*frame)->header, (*frame)->payload);
    if (!result.ok()) return Fail(result.status());
    std::fflush(nullptr);  // native stdio buffers belong to this run's logs
    if (auto st = kiln::protocol::WriteFrame(kChannelFd, FrameType::kResult, result->first,
                                             result->second);
        !st.ok()) {
      return Fail(st);
    }
  }
}
