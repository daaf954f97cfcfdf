#include "pool/memory_budget.h"

#include <gtest/gtest.h>

namespace kiln::pool {
namespace {

TEST(MemoryBudget, CountsContainersAndTheZygotesReserve) {
  int64_t zygotes = 0;
  MemoryBudget budget(1024, [&] { return zygotes; });
  EXPECT_TRUE(budget.Fits(1024));
  budget.Take(256);
  budget.Take(256);
  EXPECT_EQ(budget.used_mb(), 512);
  EXPECT_TRUE(budget.Fits(512));
  EXPECT_FALSE(budget.Fits(513));
  zygotes = 300;  // a zygote started: its reserve is read, not kept
  EXPECT_EQ(budget.used_mb(), 812);
  EXPECT_FALSE(budget.Fits(256));
  budget.Give(256);
  EXPECT_EQ(budget.free_mb(), 1024 - 556);
  EXPECT_TRUE(budget.Fits(256));
}

TEST(MemoryBudget, AGrownReserveMayTakeItPastTheTotal) {
  int64_t zygotes = 0;
  MemoryBudget budget(512, [&] { return zygotes; });
  budget.Take(512);
  zygotes = 128;
  EXPECT_EQ(budget.free_mb(), -128);
  EXPECT_FALSE(budget.Fits(0));
  EXPECT_EQ(budget.total_mb(), 512);
}

}  // namespace
}  // namespace kiln::pool
