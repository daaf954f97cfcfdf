#include "gateway/keyed_limiter.h"

#include <gtest/gtest.h>

#include <vector>

namespace kiln::gateway {
namespace {

TEST(KeyedLimiter, CapsEachKeyApart) {
  KeyedLimiter limiter(2);
  auto a1 = limiter.TryAcquire("a");
  auto a2 = limiter.TryAcquire("a");
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(limiter.TryAcquire("a"));
  EXPECT_TRUE(limiter.TryAcquire("b"));
  EXPECT_EQ(limiter.Held("a"), 2u);
}

TEST(KeyedLimiter, ALeaseGivesItsPlaceBack) {
  KeyedLimiter limiter(1);
  {
    auto lease = limiter.TryAcquire("a");
    ASSERT_TRUE(lease);
    std::vector<KeyedLimiter::Lease> moved;
    moved.push_back(std::move(*lease));
    EXPECT_EQ(limiter.Held("a"), 1u);
  }
  EXPECT_EQ(limiter.Held("a"), 0u);
  EXPECT_TRUE(limiter.TryAcquire("a"));
}

}  // namespace
}  // namespace kiln::gateway
