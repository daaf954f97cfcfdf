#include "common/crypto.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace kiln {
namespace {

TEST(Crypto, Sha256OfKnownInput) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, IncrementalSha256MatchesOneShot) {
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.FinishHex(), Sha256Hex("abc"));
}

TEST(Crypto, RandomAlnumHasLengthAndAlphabet) {
  std::string s = RandomAlnum(100);
  ASSERT_EQ(s.size(), 100u);
  for (char c : s) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
  EXPECT_NE(RandomAlnum(20), RandomAlnum(20));
}

TEST(Crypto, UuidShape) {
  std::string u = RandomUuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_EQ(u[8], '-');
}

// Random bytes come a page (4 KiB) at a time: ids drawn across several pages, and on
// two threads (a page each), are all different.
TEST(Crypto, UuidsAcrossPagesAndThreadsAreDistinct) {
  std::set<std::string> seen;
  std::vector<std::string> other(1000);
  std::thread t([&] {
    for (auto& u : other) u = RandomUuid();
  });
  for (int i = 0; i < 1000; ++i) seen.insert(RandomUuid());
  t.join();
  seen.insert(other.begin(), other.end());
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(Crypto, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secrets"));
}

TEST(Crypto, Base64Encode) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(Base64Encode("abc"), "YWJj");
  EXPECT_EQ(Base64Encode(std::string("\x00\x01\xff", 3)), "AAH/");
}


}  // namespace
}  // namespace kiln
