// DESIGN: a function's figures over a time window, computed from its run records
// (issue #15): per bucket and for the whole window, invocations, errors, throttles,
// cold starts by start mode, duration percentiles with warm and cold runs apart, and
// the init phase's median. `kiln ls`, `kiln describe` and the stats API
// (GET /v1/functions/{name}/stats) all read it, so they never disagree.
//
// Model: pure. The store hands the window's samples over one by one
// (Store::VisitRunSamples, an index on (function, started_at) covering every column
// read); a StatsBuilder sorts them into buckets aligned to the bucket length, so two
// calls in the same minute agree on their edges, keeping only the durations the
// percentiles need. Percentiles interpolate linearly between the closest ranks,
// as numpy.percentile does by default, so a test can check them against numpy.
//
// What counts: an invocation is a run that reached the pool (every status but
// throttled, rejected, queued and running; a deploy's pre-warm is no sample at all); an error
// is an invocation whose status is not ok. A throttled record stands for as many
// requests as it says (dispatch/throttle_log.h folds a second's throttles into one).
#pragma once

#include <cstdint>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "model/records.h"

namespace kiln::runs {

struct Percentiles {
  int64_t count = 0;
  std::optional<double> p50, p95, p99;  // milliseconds; unset without samples
};

struct StatsBucket {
  int64_t start_ms = 0;  // epoch ms; the bucket is [start_ms, start_ms + bucket_ms)
  int64_t invocations = 0;
  int64_t errors = 0;
  int64_t throttles = 0;
  std::array<int64_t, kStartModes> cold_starts{};  // by StartMode: plain, zygote, snapshot
  Percentiles warm, cold;
  std::optional<double> init_p50;  // ms, over cold starts that report an init phase
};

struct FunctionStats {
  int64_t from_ms = 0, to_ms = 0, bucket_ms = 0;
  std::vector<StatsBucket> buckets;  // oldest first, every bucket of the window
  StatsBucket total;                 // the whole window (its start_ms is from_ms)
};

// Bounds of what may be asked: at most a week, at most 1,440 buckets.
constexpr int64_t kMaxStatsWindowMs = 7 * 86400000LL;
constexpr int64_t kMaxStatsBuckets = 1440;

// The p-th percentile (0-100) of `sorted` (ascending); unset when empty.
std::optional<double> Percentile(const std::vector<double>& sorted, double p);

// The window that ends with the bucket holding `now_ms`: InvalidArgument when the
// window or the bucket is not positive, the window is not a whole number of buckets,
// or past the bounds above.
Result<FunctionStats> StatsWindow(int64_t now_ms, int64_t window_ms, int64_t bucket_ms);

// Fills a window (from StatsWindow) from samples added one at a time; those outside it
// are ignored. Finish takes the percentiles; `window` must outlive the builder.
class StatsBuilder {
 public:
  explicit StatsBuilder(FunctionStats& window);
  void Add(const RunSample& s);
  void Finish();

  // The durations a bucket collects before its percentiles are taken.
  struct Durations {
    std::vector<double> warm, cold, init;
  };

 private:
  FunctionStats& window_;
  std::vector<Durations> per_bucket_;
  Durations all_;
};

void to_json(nlohmann::json& j, const StatsBucket& b);
void to_json(nlohmann::json& j, const FunctionStats& s);

}  // namespace kiln::runs
