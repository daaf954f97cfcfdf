// DESIGN: the daemon <-> worker protocol, version 1.
//
// One SOCK_STREAM socketpair per container. Every message is a frame:
//
//   u32 length      big-endian, number of bytes that follow this field
//   u8  type        FrameType below
//   u32 header_len  big-endian
//   header          header_len bytes of JSON (small metadata)
//   payload         the rest: opaque bytes (an event, a response body)
//
// Conversation:
//   worker -> HELLO  {"protocol":1,"pid":N}
//   daemon -> INIT   {"bundle","handler","function_name","function_version",
//                     "memory_mb","layer_paths":[...],"env":{...}}
//   worker -> INIT_DONE {"ok":true,"init_ms":F} | {"ok":false,"errorType","errorMessage"}
//   then any number of
//   daemon -> INVOKE {"request_id","remaining_ms"}  payload: the event JSON
//   worker -> RESULT {"ok":true[,"http":{"statusCode","headers","cookies"}]}  payload: body
//                    {"ok":false,"errorType","errorMessage"}
// INIT_DONE and RESULT headers also carry "max_rss_kb": the worker's peak RSS.
//
// Fork sources (sandbox/fork_server.h, issue #7):
//   a zygote, after HELLO:
//   daemon -> PRELOAD {"layer_paths":[...],"modules":[...]}
//   zygote -> PRELOAD_DONE {"ok":true,"modules":[{"module","import_ms"}]} | {"ok":false,"error"}
//   a container, after INIT_DONE, instead of an INVOKE:
//   daemon -> SNAPSHOT {}
//   worker -> SNAPSHOT_DONE {"ok":true} | {"ok":false,"error"}  (it stays a container)
//   then, to either source, any number of
//   daemon -> FORK {"namespaces","ids","seccomp"}  with the child's channel, log, go
//             and error descriptors (SCM_RIGHTS)
//   source -> FORKED {"pid":N} | {"error"}
//   (the child's mount plan and memory fallback come later, on its go pipe)
//   a child of a template says HELLO {"restored":true,...} and takes INVOKEs at once.
// A frame of an unknown type or a HELLO with another protocol number ends the
// conversation. Frames are capped at kMaxFrameBytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kiln::protocol {

inline constexpr int kVersion = 1;
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;
inline constexpr size_t kPrefixBytes = 4;

enum class FrameType : uint8_t {
  kHello = 1,
  kInit = 2,
  kInitDone = 3,
  kInvoke = 4,
  kResult = 5,
  kPreload = 6,
  kPreloadDone = 7,
  kSnapshot = 8,
  kSnapshotDone = 9,
  kFork = 10,
  kForked = 11,
};

struct Frame {
  FrameType type;
  std::string header;   // JSON text
  std::string payload;  // opaque bytes
};

std::string Encode(FrameType type, std::string_view header, std::string_view payload);

// Incremental decoder for a byte stream: Feed() bytes, then Next() until it yields
// nothing. A malformed stream makes Next() return an error and the decoder unusable.
class Decoder {
 public:
  void Feed(std::string_view bytes) { buf_.append(bytes); }
  Result<std::optional<Frame>> Next();

 private:
  std::string buf_;
  size_t pos_ = 0;
};

// Blocking helpers for the worker side (restart on EINTR, handle short I/O).
Status WriteFrame(int fd, FrameType type, std::string_view header, std::string_view payload);
// Returns nullopt on a clean EOF before any byte of a frame.
Result<std::optional<Frame>> ReadFrame(int fd);

}  // namespace kiln::protocol
