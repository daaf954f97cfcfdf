#include "auth/failure_limiter.h"

#include <gtest/gtest.h>

namespace kiln::auth {
namespace {

using std::chrono::milliseconds;

class FailureLimiterTest : public ::testing::Test {
 protected:
  std::chrono::steady_clock::time_point now_{};
  FailureLimiter limiter_{{.per_second = 10, .burst = 20, .max_sources = 3}, [this] { return now_; }};
};

TEST_F(FailureLimiterTest, ABurstOfFailuresThenRefusalWithRetryAfter) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_FALSE(limiter_.RetryAfter("10.0.0.1").has_value()) << i;
    limiter_.Failed("10.0.0.1");
  }
  auto wait = limiter_.RetryAfter("10.0.0.1");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 1);
  EXPECT_FALSE(limiter_.RetryAfter("10.0.0.2").has_value()) << "other sources are not slowed";
}

TEST_F(FailureLimiterTest, TheBucketRefillsAtTheRate) {
  for (int i = 0; i < 20; ++i) limiter_.Failed("10.0.0.1");
  now_ += milliseconds(50);  // half a token
  EXPECT_TRUE(limiter_.RetryAfter("10.0.0.1").has_value());
  now_ += milliseconds(50);
  EXPECT_FALSE(limiter_.RetryAfter("10.0.0.1").has_value());
  limiter_.Failed("10.0.0.1");
  EXPECT_TRUE(limiter_.RetryAfter("10.0.0.1").has_value());
  now_ += std::chrono::seconds(60);  // never past the burst
  for (int i = 0; i < 20; ++i) limiter_.Failed("10.0.0.1");
  EXPECT_TRUE(limiter_.RetryAfter("10.0.0.1").has_value());
}

TEST_F(FailureLimiterTest, RetryAfterCoversAnEmptyBucket) {
  FailureLimiter slow({.per_second = 0.1, .burst = 1}, [this] { return now_; });
  slow.Failed("10.0.0.1");
  EXPECT_EQ(slow.RetryAfter("10.0.0.1"), 10);
}

TEST_F(FailureLimiterTest, IPv6IsCountedPerSlash64) {
  for (int i = 0; i < 20; ++i) limiter_.Failed("2001:db8:1:2::" + std::to_string(i + 1));
  EXPECT_TRUE(limiter_.RetryAfter("2001:db8:1:2:ffff::9").has_value());
  EXPECT_FALSE(limiter_.RetryAfter("2001:db8:1:3::1").has_value());
}

TEST_F(FailureLimiterTest, TheTableStaysBounded) {
  limiter_.Failed("10.0.0.1");
  limiter_.Failed("10.0.0.2");
  for (int i = 0; i < 20; ++i) limiter_.Failed("10.0.0.3");
  limiter_.Failed("10.0.0.4");  // full, nothing refilled: not counted
  EXPECT_EQ(limiter_.tracked(), 3u);
  now_ += std::chrono::seconds(1);  // 1 and 2 are full again and make room
  for (int i = 0; i < 20; ++i) limiter_.Failed("10.0.0.4");
  EXPECT_TRUE(limiter_.RetryAfter("10.0.0.4").has_value());
  EXPECT_EQ(limiter_.tracked(), 2u) << "a source not yet refilled (10.0.0.3) is kept";
}

}  // namespace
}  // namespace kiln::auth
