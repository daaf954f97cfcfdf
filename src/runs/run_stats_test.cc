#include "runs/run_stats.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kiln::runs {
namespace {

constexpr int64_t kMinute = 60000;
constexpr int64_t kNow = 1000 * kMinute + 30000;  // half way through a minute

RunSample Sample(int64_t started_at, double ms, RunStatus status = RunStatus::kOk, bool cold = false) {
  RunSample s;
  s.started_at = started_at;
  s.duration_ms = ms;
  s.status = status;
  s.cold = cold;
  return s;
}

TEST(Percentile, InterpolatesBetweenClosestRanksLikeNumpy) {
  const std::vector<double> v = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(*Percentile(v, 50), 2.5);    // numpy.percentile([1,2,3,4], 50)
  EXPECT_DOUBLE_EQ(*Percentile(v, 95), 3.85);   // 3 + 0.85 * (4 - 3)
  EXPECT_DOUBLE_EQ(*Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(*Percentile(v, 100), 4);
  const std::vector<double> one = {7};
  EXPECT_DOUBLE_EQ(*Percentile(one, 99), 7);
  const std::vector<double> none;
  EXPECT_FALSE(Percentile(none, 50).has_value());
}

TEST(StatsWindow, EndsWithTheBucketHoldingNow) {
  auto w = StatsWindow(kNow, 60 * kMinute, kMinute);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->to_ms, 1001 * kMinute);
  EXPECT_EQ(w->from_ms, 941 * kMinute);
  ASSERT_EQ(w->buckets.size(), 60u);
  EXPECT_EQ(w->buckets.front().start_ms, 941 * kMinute);
  EXPECT_EQ(w->buckets.back().start_ms, 1000 * kMinute);
}

TEST(StatsWindow, RefusesWindowsItCannotCut) {
  EXPECT_EQ(StatsWindow(kNow, 0, kMinute).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StatsWindow(kNow, kMinute, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StatsWindow(kNow, 90000, kMinute).status().code(), Code::kInvalidArgument);  // 1.5 buckets
  EXPECT_EQ(StatsWindow(kNow, 8 * 1440 * kMinute, 60 * kMinute).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StatsWindow(kNow, 1440 * kMinute, 1000).status().code(), Code::kInvalidArgument);  // 86,400 buckets
}

TEST(StatsBuilder, SortsRunsIntoBucketsAndCountsWhatIsAnInvocation) {
  auto w = StatsWindow(kNow, 10 * kMinute, kMinute);
  ASSERT_TRUE(w.ok());
  const int64_t last = w->buckets.back().start_ms;
  RunSample cold = Sample(last + 1, 40, RunStatus::kOk, true);
  cold.start = StartMode::kZygote;
  cold.init_ms = 30;
  RunSample throttled = Sample(last + 2, 0, RunStatus::kThrottled);
  throttled.stands_for = 12;
  std::vector<RunSample> samples = {
      Sample(last, 1), Sample(last + 10, 3), Sample(last + 20, 2, RunStatus::kError),
      cold, throttled,
      Sample(last, 9, RunStatus::kRejected), Sample(last, 9, RunStatus::kRunning),
      Sample(w->from_ms, 5),                  // the first bucket's first millisecond
      Sample(w->from_ms - 1, 5), Sample(w->to_ms, 5),  // outside the window
  };
  StatsBuilder builder(*w);
  for (const RunSample& s : samples) builder.Add(s);
  builder.Finish();
  const StatsBucket& b = w->buckets.back();
  EXPECT_EQ(b.invocations, 4);
  EXPECT_EQ(b.errors, 1);
  EXPECT_EQ(b.throttles, 12);
  EXPECT_EQ(b.cold_starts[static_cast<size_t>(StartMode::kZygote)], 1);
  EXPECT_EQ(b.cold_starts[static_cast<size_t>(StartMode::kPlain)], 0);
  EXPECT_EQ(b.warm.count, 3);
  EXPECT_DOUBLE_EQ(*b.warm.p50, 2);
  EXPECT_EQ(b.cold.count, 1);
  EXPECT_DOUBLE_EQ(*b.cold.p99, 40);
  EXPECT_DOUBLE_EQ(*b.init_p50, 30);
  EXPECT_EQ(w->buckets.front().invocations, 1);
  EXPECT_EQ(w->buckets[1].invocations, 0);
  EXPECT_FALSE(w->buckets[1].warm.p50.has_value());
  EXPECT_EQ(w->total.invocations, 5);
  EXPECT_EQ(w->total.warm.count, 4);
  EXPECT_DOUBLE_EQ(*w->total.warm.p50, 2.5);
}

TEST(StatsBuilder, JsonNamesEveryStartModeAndNullsWhatHasNoSamples) {
  auto w = StatsWindow(kNow, kMinute, kMinute);
  ASSERT_TRUE(w.ok());
  StatsBuilder(*w).Finish();
  nlohmann::json j = *w;
  EXPECT_EQ(j["buckets"].size(), 1u);
  EXPECT_EQ(j["totals"]["cold_starts"], (nlohmann::json{{"plain", 0}, {"snapshot", 0}, {"zygote", 0}}));
  EXPECT_TRUE(j["totals"]["warm"]["p50_ms"].is_null());
  EXPECT_FALSE(j["totals"].contains("start"));
  EXPECT_EQ(j["bucket_s"], 60.0);
}

}  // namespace
}  // namespace kiln::runs
