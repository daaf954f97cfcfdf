#include "model/records.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(Records, RoutePathsAreRfc3986PathsOfBoundedLength) {
  for (const char* ok : {"/", "/predict", "/a/b-c_d.e~f", "/v2/%41bc", "/x:y@z!$&'()*+,;="}) {
    EXPECT_TRUE(CheckRoutePath(ok).ok()) << ok;
  }
  for (std::string bad : {std::string(""), std::string("predict"), std::string("/a\r\nX: y"), std::string("/a b"),
                          std::string("/a\tb"), std::string("/a\0b", 4), std::string("/a%zz"), std::string("/a%4"),
                          std::string("/\xc3\xa9"), std::string("/a\"b"), std::string("/a<b>"), std::string("/a#b")}) {
    EXPECT_FALSE(CheckRoutePath(bad).ok()) << bad;
  }
  EXPECT_TRUE(CheckRoutePath("/" + std::string(kMaxRoutePathBytes - 1, 'a')).ok());
  Status long_one = CheckRoutePath("/" + std::string(kMaxRoutePathBytes, 'a'));
  EXPECT_NE(long_one.message().find("at most 1024 bytes"), std::string::npos) << long_one.message();
}

TEST(Records, EnvKeysArePosixNames) {
  for (const char* ok : {"A", "_", "DB_PASSWORD", "a1", "_9"}) EXPECT_TRUE(ValidEnvKey(ok)) << ok;
  for (std::string bad : {std::string(""), std::string("1A"), std::string("A=B"), std::string("A\0B", 3),
                          std::string("A B"), std::string("A-B"), std::string("\xc3\xa9")}) {
    EXPECT_FALSE(ValidEnvKey(bad)) << bad;
  }
}

}  // namespace
}  // namespace kiln
