// DESIGN: what the pool's reconcile loop should do to one function version's
// containers, decided from a snapshot and a time, with no side effects (so the
// windows are tested without waiting for them). The pool applies the plan.
//
// The rules (SPEC §2):
//   - a superseded version keeps nothing idle;
//   - a fully idle version (nothing busy or starting, no request for scale_to_zero)
//     loses every idle container, min_warm included: scaled to zero, the next
//     request is cold, and min_warm is kept again only after it;
//   - otherwise idle containers past idle_evict go, the longest idle first, while
//     more than min_warm remain;
//   - a version that should be warm and has fewer than min_warm gets new ones.
// Budget eviction is separate: the least recently used idle containers of other
// versions go first (PickBudgetVictims).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pool/pool_settings.h"

namespace kiln::pool {

using TimePoint = std::chrono::steady_clock::time_point;

enum class LeaveReason {
  kIdle, kScaleToZero, kRecycled, kBudget, kCrashed, kTimeout, kOom, kSuperseded,
  kInitFailed, kShutdown, kStopped,
};
const char* LeaveReasonName(LeaveReason r);

struct SlotView {
  PoolSettings settings;
  bool aspired = false;     // the registry wants this version warm (min_warm applies)
  bool superseded = false;  // a newer version took its place
  bool broken = false;      // its init failed: never start one in the background
  TimePoint last_activity;  // the last request's start or end
  size_t busy = 0;          // busy or draining
  size_t starting = 0;
  size_t waiting = 0;                 // requests queued
  std::vector<TimePoint> idle_since;  // one per idle container
};

struct Eviction {
  size_t index;  // into SlotView::idle_since
  LeaveReason reason;
};

struct Plan {
  std::vector<Eviction> evict;
  size_t start = 0;
  bool scaled_to_zero = false;
};

Plan PlanSlot(const SlotView& slot, TimePoint now);

struct IdleCandidate {
  int64_t memory_mb;
  TimePoint idle_since;
};

// Indices of the idle containers to stop, least recently used first, so that
// `free_mb` plus their memory covers `need_mb`; empty when even all would not do.
std::vector<size_t> PickBudgetVictims(const std::vector<IdleCandidate>& idle, int64_t free_mb,
                                      int64_t need_mb);

}  // namespace kiln::pool
