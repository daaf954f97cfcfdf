// DESIGN: the daemon's decoder of the worker channel (runtime/protocol.h), fed what a
// hostile worker could write. The input is cut into chunks (sizes drawn from the
// input) as reads would deliver them; every frame is decoded. Checked: each frame
// re-encodes to exactly the bytes it came from, and a length prefix over the cap is
// refused as soon as its four bytes are in, not waited for (nor allocated).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <string>

#include "runtime/protocol.h"

namespace {

using kiln::protocol::Decoder;
using kiln::protocol::kMaxFrameBytes;
using kiln::protocol::kPrefixBytes;

uint32_t PrefixAt(const std::string& s, size_t at) {
  auto b = reinterpret_cast<const unsigned char*>(s.data() + at);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Decoder decoder;
  std::string fed;       // every byte given to the decoder
  size_t consumed = 0;   // the bytes of the frames it has yielded
  while (in.remaining_bytes() > 0) {
    std::string chunk = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(1, 4096));
    decoder.Feed(chunk);
    fed += chunk;
    for (;;) {
      auto next = decoder.Next();
      if (!next.ok()) return 0;  // a malformed stream: the decoder is done with it
      if (!next->has_value()) break;
      const auto& frame = **next;
      std::string again = kiln::protocol::Encode(frame.type, frame.header, frame.payload);
      if (fed.compare(consumed, again.size(), again) != 0) std::abort();
      consumed += again.size();
    }
    // Waiting for more bytes is right only for a frame within the cap.
    if (fed.size() - consumed >= kPrefixBytes && PrefixAt(fed, consumed) > kMaxFrameBytes) std::abort();
  }
  return 0;
}
