// DESIGN: the knobs of a function version's warm pool (SPEC §2). The node sets the
// defaults (`kiln serve` flags); a version may override any of them (kiln.yaml or
// deploy flags), and the pool works with the resolved values only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "model/records.h"

namespace kiln::pool {

struct PoolSettings {
  size_t min_warm = 1;
  size_t max_containers = 8;
  size_t queue_size = 64;
  std::chrono::milliseconds idle_evict{300'000};     // above min_warm
  std::chrono::milliseconds scale_to_zero{600'000};  // all of them, once fully idle
  int64_t recycle_after = 1000;                      // invocations
};

// The node's defaults with the version's overrides applied.
PoolSettings Resolve(const PoolSettings& node, const PoolOverrides& overrides);

// Range checks of the overrides against what they resolve to (min_warm <= max).
Status Validate(const PoolSettings& node, const PoolOverrides& overrides);

}  // namespace kiln::pool
