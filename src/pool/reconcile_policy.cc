#include "pool/reconcile_policy.h"

#include <algorithm>
#include <numeric>

namespace kiln::pool {
namespace {

std::vector<size_t> OldestFirst(const std::vector<TimePoint>& since) {
  std::vector<size_t> order(since.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return since[a] < since[b]; });
  return order;
}

}  // namespace

const char* LeaveReasonName(LeaveReason r) {
  switch (r) {
    case LeaveReason::kIdle: return "idle";
    case LeaveReason::kScaleToZero: return "scale_to_zero";
    case LeaveReason::kRecycled: return "recycled";
    case LeaveReason::kBudget: return "budget";
    case LeaveReason::kCrashed: return "crashed";
    case LeaveReason::kTimeout: return "timeout";
    case LeaveReason::kOom: return "oom";
    case LeaveReason::kSuperseded: return "superseded";
    case LeaveReason::kInitFailed: return "init_failed";
    case LeaveReason::kShutdown: return "shutdown";
    case LeaveReason::kStopped: return "stopped";
  }
  return "crashed";
}

Plan PlanSlot(const SlotView& s, TimePoint now) {
  Plan plan;
  const size_t idle = s.idle_since.size();
  if (s.superseded) {
    for (size_t i = 0; i < idle; ++i) plan.evict.push_back({i, LeaveReason::kSuperseded});
    return plan;
  }
  const bool fully_idle = s.busy == 0 && s.starting == 0 && s.waiting == 0 &&
                          now - s.last_activity >= s.settings.scale_to_zero;
  if (fully_idle) {
    for (size_t i = 0; i < idle; ++i) plan.evict.push_back({i, LeaveReason::kScaleToZero});
    plan.scaled_to_zero = true;
    return plan;
  }
  size_t live = idle + s.busy + s.starting;
  for (size_t i : OldestFirst(s.idle_since)) {
    if (live <= s.settings.min_warm || now - s.idle_since[i] < s.settings.idle_evict) break;
    plan.evict.push_back({i, LeaveReason::kIdle});
    --live;
  }
  if (s.aspired && !s.broken && live < s.settings.min_warm) plan.start = s.settings.min_warm - live;
  return plan;
}

std::vector<size_t> PickBudgetVictims(const std::vector<IdleCandidate>& idle, int64_t free_mb,
                                      int64_t need_mb) {
  std::vector<TimePoint> since;
  for (const auto& c : idle) since.push_back(c.idle_since);
  std::vector<size_t> victims;
  for (size_t i : OldestFirst(since)) {
    if (free_mb >= need_mb) break;
    victims.push_back(i);
    free_mb += idle[i].memory_mb;
  }
  if (free_mb < need_mb) victims.clear();
  return victims;
}

}  // namespace kiln::pool
