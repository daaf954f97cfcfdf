#include "common/secret_box.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

const std::string kKey(32, 'k');

TEST(SecretBox, RoundTrip) {
  for (std::string value : {std::string(), std::string("hunter2"), std::string(100000, 'x'),
                            std::string("a\0b", 3)}) {
    auto sealed = Seal(kKey, value, "db");
    ASSERT_TRUE(sealed.ok()) << sealed.status().message();
    EXPECT_EQ(sealed->size(), value.size() + 28);
    if (!value.empty()) {
      EXPECT_EQ(sealed->find(value), std::string::npos);
    }
    auto opened = Open(kKey, *sealed, "db");
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    EXPECT_EQ(*opened, value);
  }
}

TEST(SecretBox, EachSealHasItsOwnNonce) {
  EXPECT_NE(*Seal(kKey, "same", "db"), *Seal(kKey, "same", "db"));
}

TEST(SecretBox, AnyChangedByteFailsToOpen) {
  const std::string sealed = *Seal(kKey, "hunter2", "db");
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string tampered = sealed;
    tampered[i] = static_cast<char>(tampered[i] ^ 1);
    EXPECT_FALSE(Open(kKey, tampered, "db").ok()) << "byte " << i;
  }
  EXPECT_FALSE(Open(kKey, sealed.substr(0, sealed.size() - 1), "db").ok());
  EXPECT_FALSE(Open(kKey, "short", "db").ok());
}

TEST(SecretBox, WrongNameOrKeyFailsToOpen) {
  const std::string sealed = *Seal(kKey, "hunter2", "db");
  EXPECT_FALSE(Open(kKey, sealed, "other").ok());
  EXPECT_FALSE(Open(std::string(32, 'j'), sealed, "db").ok());
  EXPECT_FALSE(Seal("short key", "v", "db").ok());
}

}  // namespace
}  // namespace kiln
