#include "runtime/protocol.h"

#include <unistd.h>

#include <cerrno>

namespace kiln::protocol {
namespace {

void PutU32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

uint32_t GetU32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

bool KnownType(uint8_t t) { return t >= 1 && t <= static_cast<uint8_t>(FrameType::kForked); }

Result<Frame> ParseBody(std::string_view body) {
  if (body.size() < 5) return Internal("protocol: frame shorter than its fixed fields");
  uint8_t type = static_cast<uint8_t>(body[0]);
  if (!KnownType(type)) return Internal("protocol: unknown frame type " + std::to_string(type));
  uint32_t header_len = GetU32(body.data() + 1);
  if (header_len > body.size() - 5) return Internal("protocol: header longer than its frame");
  return Frame{static_cast<FrameType>(type), std::string(body.substr(5, header_len)),
               std::string(body.substr(5 + header_len))};
}

}  // namespace

std::string Encode(FrameType type, std::string_view header, std::string_view payload) {
  std::string out;
  uint32_t length = static_cast<uint32_t>(1 + 4 + header.size() + payload.size());
  out.reserve(4 + length);
  PutU32(&out, length);
  out.push_back(static_cast<char>(type));
  PutU32(&out, static_cast<uint32_t>(header.size()));
  out.append(header);
  out.append(payload);
  return out;
}

Result<std::optional<Frame>> Decoder::Next() {
  std::string_view avail(buf_.data() + pos_, buf_.size() - pos_);
  if (avail.size() < kPrefixBytes) return std::optional<Frame>();
  uint32_t length = GetU32(avail.data());
  if (length > kMaxFrameBytes) {
    return Internal("protocol: frame of " + std::to_string(length) + " bytes exceeds the cap");
  }
  if (avail.size() < kPrefixBytes + length) return std::optional<Frame>();
  auto frame = ParseBody(avail.substr(kPrefixBytes, length));
  if (!frame.ok()) return frame.status();
  pos_ += kPrefixBytes + length;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return std::optional<Frame>(std::move(frame).value());
}

Status WriteFrame(int fd, FrameType type, std::string_view header, std::string_view payload) {
  std::string bytes = Encode(type, header, payload);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write(channel)");
    }
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

// Reads exactly n bytes; returns false at EOF before the first byte.
static Result<bool> ReadExact(int fd, char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, buf + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read(channel)");
    }
    if (r == 0) {
      if (done == 0) return false;
      return Internal("protocol: channel closed inside a frame");
    }
    done += static_cast<size_t>(r);
  }
  return true;
}

Result<std::optional<Frame>> ReadFrame(int fd) {
  char prefix[kPrefixBytes];
  KILN_ASSIGN_OR_RETURN(bool got, ReadExact(fd, prefix, kPrefixBytes));
  if (!got) return std::optional<Frame>();
  uint32_t length = GetU32(prefix);
  if (length > kMaxFrameBytes) return Internal("protocol: frame exceeds the cap");
  std::string body(length, '\0');
  KILN_ASSIGN_OR_RETURN(bool complete, ReadExact(fd, body.data(), length));
  if (!complete) return Internal("protocol: channel closed inside a frame");
  auto frame = ParseBody(body);
  if (!frame.ok()) return frame.status();
  return std::optional<Frame>(std::move(frame).value());
}

}  // namespace kiln::protocol
