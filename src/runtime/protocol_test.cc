#include "runtime/protocol.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace kiln::protocol {
namespace {

TEST(Protocol, EncodeDecodeRoundTrip) {
  Decoder d;
  d.Feed(Encode(FrameType::kInvoke, R"({"request_id":"r"})", "payload\0bytes"));
  auto f = d.Next();
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->type, FrameType::kInvoke);
  EXPECT_EQ((*f)->header, R"({"request_id":"r"})");
  EXPECT_EQ((*f)->payload, "payload");
}

TEST(Protocol, DecoderWaitsForWholeFrames) {
  std::string bytes = Encode(FrameType::kResult, "{}", "body") + Encode(FrameType::kHello, "{}", "");
  Decoder d;
  for (size_t i = 0; i < bytes.size(); ++i) {
    d.Feed(bytes.substr(i, 1));
    if (i + 1 < 4 + 1 + 4 + 2 + 4) {
      auto f = d.Next();
      ASSERT_TRUE(f.ok());
      EXPECT_FALSE(f->has_value());
    }
  }
  // Both frames are there now, in order.
  Decoder whole;
  whole.Feed(bytes);
  EXPECT_EQ((*whole.Next())->type, FrameType::kResult);
  EXPECT_EQ((*whole.Next())->type, FrameType::kHello);
  EXPECT_FALSE(whole.Next()->has_value());
}

TEST(Protocol, RejectsUnknownTypeAndOversizedFrames) {
  Decoder bad_type;
  std::string f = Encode(FrameType::kHello, "{}", "");
  f[4] = 42;
  bad_type.Feed(f);
  EXPECT_FALSE(bad_type.Next().ok());

  Decoder too_big;
  too_big.Feed(std::string("\x7f\xff\xff\xff", 4));
  EXPECT_FALSE(too_big.Next().ok());
}

TEST(Protocol, BlockingReadWriteOverASocketPair) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_TRUE(WriteFrame(sv[0], FrameType::kInit, R"({"a":1})", "xyz").ok());
  close(sv[0]);
  auto f = ReadFrame(sv[1]);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->payload, "xyz");
  auto eof = ReadFrame(sv[1]);
  ASSERT_TRUE(eof.ok());
  EXPECT_FALSE(eof->has_value());
  close(sv[1]);
}

}  // namespace
}  // namespace kiln::protocol
