#include "pool/reconcile_policy.h"

#include <gtest/gtest.h>

namespace kiln::pool {
namespace {

using std::chrono::seconds;

const TimePoint kT0{};  // the clock's epoch; times below are offsets from it

SlotView Slot(size_t min_warm, std::vector<int> idle_since_s, size_t busy = 0) {
  SlotView v;
  v.settings.min_warm = min_warm;
  v.settings.idle_evict = seconds(300);
  v.settings.scale_to_zero = seconds(600);
  v.aspired = true;
  v.busy = busy;
  for (int s : idle_since_s) v.idle_since.push_back(kT0 + seconds(s));
  v.last_activity = kT0 + seconds(idle_since_s.empty() ? 0 : *std::max_element(idle_since_s.begin(), idle_since_s.end()));
  return v;
}

TEST(PlanSlot, KeepsMinWarmAndEvictsTheLongestIdleAboveIt) {
  SlotView v = Slot(1, {0, 10, 20});
  Plan p = PlanSlot(v, kT0 + seconds(315));  // idle 315, 305, 295 s
  ASSERT_EQ(p.evict.size(), 2u);
  EXPECT_EQ(p.evict[0].index, 0u);
  EXPECT_EQ(p.evict[1].index, 1u);
  EXPECT_EQ(p.evict[0].reason, LeaveReason::kIdle);
  EXPECT_EQ(p.start, 0u);
}

TEST(PlanSlot, NothingGoesBeforeTheIdleWindow) {
  Plan p = PlanSlot(Slot(1, {0, 0}), kT0 + seconds(299));
  EXPECT_TRUE(p.evict.empty());
}

TEST(PlanSlot, BusyContainersCountTowardsMinWarm) {
  Plan p = PlanSlot(Slot(1, {0}, /*busy=*/1), kT0 + seconds(400));
  ASSERT_EQ(p.evict.size(), 1u) << "the busy one keeps min_warm";
}

TEST(PlanSlot, ScalesToZeroAfterTheFullIdleWindow) {
  Plan p = PlanSlot(Slot(2, {0, 5}), kT0 + seconds(605));
  EXPECT_TRUE(p.scaled_to_zero);
  ASSERT_EQ(p.evict.size(), 2u);
  EXPECT_EQ(p.evict[0].reason, LeaveReason::kScaleToZero);
  EXPECT_EQ(p.start, 0u) << "min_warm comes back only with the next request";
}

TEST(PlanSlot, NoScaleToZeroWhileSomethingIsBusyOrQueued) {
  EXPECT_FALSE(PlanSlot(Slot(1, {0}, /*busy=*/1), kT0 + seconds(700)).scaled_to_zero);
  SlotView queued = Slot(1, {0});
  queued.waiting = 1;
  EXPECT_FALSE(PlanSlot(queued, kT0 + seconds(700)).scaled_to_zero);
}

TEST(PlanSlot, StartsWhatMinWarmMisses) {
  EXPECT_EQ(PlanSlot(Slot(3, {0}), kT0 + seconds(1)).start, 2u);
  SlotView starting = Slot(3, {0});
  starting.starting = 2;
  EXPECT_EQ(PlanSlot(starting, kT0 + seconds(1)).start, 0u);
}

TEST(PlanSlot, NoBackgroundStartsForUnwantedOrBrokenVersions) {
  SlotView not_aspired = Slot(1, {});
  not_aspired.aspired = false;
  EXPECT_EQ(PlanSlot(not_aspired, kT0).start, 0u);
  SlotView broken = Slot(1, {});
  broken.broken = true;
  EXPECT_EQ(PlanSlot(broken, kT0).start, 0u);
}

TEST(PlanSlot, SupersededKeepsNothingIdle) {
  SlotView v = Slot(1, {0, 1});
  v.superseded = true;
  Plan p = PlanSlot(v, kT0 + seconds(2));
  ASSERT_EQ(p.evict.size(), 2u);
  EXPECT_EQ(p.evict[1].reason, LeaveReason::kSuperseded);
  EXPECT_EQ(p.start, 0u);
}

TEST(PickBudgetVictims, LeastRecentlyUsedFirstUntilItFits) {
  std::vector<IdleCandidate> idle = {{256, kT0 + seconds(30)}, {256, kT0 + seconds(10)}, {256, kT0 + seconds(20)}};
  EXPECT_EQ(PickBudgetVictims(idle, 0, 256), (std::vector<size_t>{1}));
  EXPECT_EQ(PickBudgetVictims(idle, 100, 512), (std::vector<size_t>{1, 2}));
  EXPECT_TRUE(PickBudgetVictims(idle, 512, 256).empty()) << "it fits already";
  EXPECT_TRUE(PickBudgetVictims(idle, 0, 1024).empty()) << "even all of them would not do";
}

}  // namespace
}  // namespace kiln::pool
