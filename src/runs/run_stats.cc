#include "runs/run_stats.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/time_util.h"

namespace kiln::runs {
namespace {

bool NotAnInvocation(const RunSample& s) {
  switch (s.status) {
    case RunStatus::kThrottled:
    case RunStatus::kRejected:
    case RunStatus::kQueued:
    case RunStatus::kRunning:
      return true;
    default:
      return false;
  }
}

using Durations = StatsBuilder::Durations;

void Add(const RunSample& s, StatsBucket& b, Durations& d) {
  if (s.status == RunStatus::kThrottled) {
    b.throttles += std::max<int64_t>(s.stands_for, 1);
    return;
  }
  if (NotAnInvocation(s)) return;
  ++b.invocations;
  if (s.status != RunStatus::kOk) ++b.errors;
  if (!s.cold) {
    d.warm.push_back(s.duration_ms);
    return;
  }
  d.cold.push_back(s.duration_ms);
  ++b.cold_starts[static_cast<size_t>(s.start)];
  if (s.init_ms) d.init.push_back(*s.init_ms);
}

// p50, p95 and p99 by order statistics, not a sort: each rank is placed with
// nth_element on what lies right of the previous one (everything left of it is no
// larger), and its upper neighbour is the least of the rest. Linear in the count.
Percentiles Summarize(std::vector<double>& values) {
  Percentiles out;
  out.count = static_cast<int64_t>(values.size());
  if (values.empty()) return out;
  size_t from = 0;
  auto at = [&](double p) {
    const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(rank));
    std::nth_element(values.begin() + static_cast<std::ptrdiff_t>(from), values.begin() + static_cast<std::ptrdiff_t>(lo),
                     values.end());
    from = lo;
    const double low = values[lo];
    if (lo + 1 >= values.size()) return low;
    const double high = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(lo) + 1, values.end());
    return low + (high - low) * (rank - static_cast<double>(lo));
  };
  out.p50 = at(50);
  out.p95 = at(95);
  out.p99 = at(99);
  return out;
}

void Finish(StatsBucket& b, Durations& d) {
  b.warm = Summarize(d.warm);
  b.cold = Summarize(d.cold);
  std::sort(d.init.begin(), d.init.end());
  b.init_p50 = Percentile(d.init, 50);
}

nlohmann::json Ms(const std::optional<double>& v) {
  if (!v) return nullptr;
  return std::round(*v * 1000.0) / 1000.0;  // µs resolution is all a record has
}

}  // namespace

std::optional<double> Percentile(const std::vector<double>& values, double p) {
  if (values.empty()) return std::nullopt;
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(below);
  return values[below] + (values[above] - values[below]) * frac;
}

Result<FunctionStats> StatsWindow(int64_t now_ms, int64_t window_ms, int64_t bucket_ms) {
  if (window_ms <= 0 || bucket_ms <= 0) return InvalidArgument("window and bucket must be positive durations");
  if (window_ms > kMaxStatsWindowMs) return InvalidArgument("window is at most 7d");
  if (window_ms % bucket_ms != 0) return InvalidArgument("window must be a whole number of buckets");
  if (window_ms / bucket_ms > kMaxStatsBuckets) {
    return InvalidArgument("at most " + std::to_string(kMaxStatsBuckets) + " buckets: use a longer bucket");
  }
  FunctionStats s;
  s.bucket_ms = bucket_ms;
  s.to_ms = (now_ms / bucket_ms + 1) * bucket_ms;  // the end of the bucket holding now
  s.from_ms = s.to_ms - window_ms;
  s.total.start_ms = s.from_ms;
  for (int64_t t = s.from_ms; t < s.to_ms; t += bucket_ms) s.buckets.push_back(StatsBucket{.start_ms = t});
  return s;
}

StatsBuilder::StatsBuilder(FunctionStats& window) : window_(window), per_bucket_(window.buckets.size()) {}

void StatsBuilder::Add(const RunSample& s) {
  if (s.started_at < window_.from_ms || s.started_at >= window_.to_ms) return;
  const size_t i = static_cast<size_t>((s.started_at - window_.from_ms) / window_.bucket_ms);
  runs::Add(s, window_.buckets[i], per_bucket_[i]);
  runs::Add(s, window_.total, all_);
}

void StatsBuilder::Finish() {
  for (size_t i = 0; i < window_.buckets.size(); ++i) runs::Finish(window_.buckets[i], per_bucket_[i]);
  runs::Finish(window_.total, all_);
}

void to_json(nlohmann::json& j, const StatsBucket& b) {
  auto percentiles = [](const Percentiles& p) {
    return nlohmann::json{{"count", p.count}, {"p50_ms", Ms(p.p50)}, {"p95_ms", Ms(p.p95)}, {"p99_ms", Ms(p.p99)}};
  };
  nlohmann::json cold_starts = nlohmann::json::object();
  for (size_t mode = 0; mode < kStartModes; ++mode) {
    cold_starts[StartModeName(static_cast<StartMode>(mode))] = b.cold_starts[mode];
  }
  j = {{"start", FormatRfc3339(b.start_ms)},
       {"invocations", b.invocations},
       {"errors", b.errors},
       {"throttles", b.throttles},
       {"cold_starts", cold_starts},
       {"warm", percentiles(b.warm)},
       {"cold", percentiles(b.cold)},
       {"init_p50_ms", Ms(b.init_p50)}};
}

void to_json(nlohmann::json& j, const FunctionStats& s) {
  j = {{"from", FormatRfc3339(s.from_ms)},
       {"to", FormatRfc3339(s.to_ms)},
       {"bucket_s", s.bucket_ms / 1000.0},
       {"totals", s.total},
       {"buckets", s.buckets}};
  j["totals"].erase("start");
}

}  // namespace kiln::runs
