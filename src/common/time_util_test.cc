#include "common/time_util.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(TimeUtil, ParsesDurations) {
  EXPECT_EQ(ParseDurationMs("5s"), 5000);
  EXPECT_EQ(ParseDurationMs("250ms"), 250);
  EXPECT_EQ(ParseDurationMs("2m"), 120000);
  EXPECT_EQ(ParseDurationMs("1h"), 3600000);
  EXPECT_EQ(ParseDurationMs("30d"), 30ll * 86400000);
  EXPECT_EQ(ParseDurationMs("3"), 3000);
  EXPECT_EQ(ParseDurationMs("1.5s"), 1500);
}

TEST(TimeUtil, RejectsMalformedDurations) {
  EXPECT_EQ(ParseDurationMs(""), -1);
  EXPECT_EQ(ParseDurationMs("fast"), -1);
  EXPECT_EQ(ParseDurationMs("5w"), -1);
  EXPECT_EQ(ParseDurationMs("-1s"), -1);
}

// Found by fuzz/deploy_yaml_fuzz: a 70-digit timeout overflowed the cast to int64 (UB).
TEST(TimeUtil, RejectsDurationsNoInt64Holds) {
  EXPECT_EQ(ParseDurationMs(std::string(70, '3') + "5s"), -1);
  EXPECT_EQ(ParseDurationMs("1e300d"), -1);
  EXPECT_EQ(ParseDurationMs("inf"), -1);
  EXPECT_EQ(ParseDurationMs("nan"), -1);
  EXPECT_EQ(ParseDurationMs("36500d"), 36500ll * 86400000);
  EXPECT_EQ(ParseDurationMs("36501d"), -1);
}

TEST(TimeUtil, FormatsTimestamps) {
  EXPECT_EQ(FormatRfc3339(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatClf(1700000000123), "14/Nov/2023:22:13:20 +0000");
}

}  // namespace
}  // namespace kiln
