#include "pool/pool_settings.h"

#include <gtest/gtest.h>

namespace kiln::pool {
namespace {

TEST(PoolSettings, OverridesReplaceOnlyWhatTheySet) {
  PoolSettings node;
  PoolOverrides o;
  o.max_containers = 2;
  o.idle_evict_s = 1.5;
  PoolSettings s = Resolve(node, o);
  EXPECT_EQ(s.max_containers, 2u);
  EXPECT_EQ(s.idle_evict, std::chrono::milliseconds(1500));
  EXPECT_EQ(s.min_warm, node.min_warm);
  EXPECT_EQ(s.recycle_after, node.recycle_after);
}

TEST(PoolSettings, RangesAreChecked) {
  PoolSettings node;
  auto check = [&](auto set) {
    PoolOverrides o;
    set(o);
    return Validate(node, o);
  };
  EXPECT_TRUE(check([](PoolOverrides& o) { o.min_warm = 0; }).ok());
  EXPECT_FALSE(check([](PoolOverrides& o) { o.max_containers = 0; }).ok());
  EXPECT_FALSE(check([](PoolOverrides& o) { o.max_containers = 65; }).ok());
  EXPECT_FALSE(check([](PoolOverrides& o) { o.recycle_after = 0; }).ok());
  EXPECT_FALSE(check([](PoolOverrides& o) { o.idle_evict_s = 0; }).ok());
  EXPECT_FALSE(check([](PoolOverrides& o) { o.queue_size = -1; }).ok());
  Status above = check([](PoolOverrides& o) {
    o.min_warm = 3;
    o.max_containers = 2;
  });
  EXPECT_FALSE(above.ok());
  EXPECT_NE(above.message().find("min_warm (3) must not exceed max_containers (2)"), std::string::npos);
}

}  // namespace
}  // namespace kiln::pool
