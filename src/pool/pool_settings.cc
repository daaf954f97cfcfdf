#include "pool/pool_settings.h"

#include <string>

namespace kiln::pool {
namespace {

std::chrono::milliseconds Seconds(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0));
}

Status CheckRange(const char* name, const std::optional<int64_t>& v, int64_t lo, int64_t hi) {
  if (v && (*v < lo || *v > hi)) {
    return InvalidArgument(std::string(name) + " must be within " + std::to_string(lo) + "-" +
                           std::to_string(hi) + ", got " + std::to_string(*v));
  }
  return OkStatus();
}

Status CheckWindow(const char* name, const std::optional<double>& v) {
  // At least a millisecond, at most a week: a window is a duration, not a sentinel.
  if (v && (!(*v >= 0.001) || *v > 7 * 24 * 3600.0)) {
    return InvalidArgument(std::string(name) + " must be between 0.001 and 604800 seconds, got " +
                           std::to_string(*v));
  }
  return OkStatus();
}

}  // namespace

PoolSettings Resolve(const PoolSettings& node, const PoolOverrides& o) {
  PoolSettings s = node;
  if (o.min_warm) s.min_warm = static_cast<size_t>(*o.min_warm);
  if (o.max_containers) s.max_containers = static_cast<size_t>(*o.max_containers);
  if (o.queue_size) s.queue_size = static_cast<size_t>(*o.queue_size);
  if (o.idle_evict_s) s.idle_evict = Seconds(*o.idle_evict_s);
  if (o.scale_to_zero_s) s.scale_to_zero = Seconds(*o.scale_to_zero_s);
  if (o.recycle_after) s.recycle_after = *o.recycle_after;
  return s;
}

Status Validate(const PoolSettings& node, const PoolOverrides& o) {
  KILN_RETURN_IF_ERROR(CheckRange("max_containers", o.max_containers, 1, 64));
  KILN_RETURN_IF_ERROR(CheckRange("min_warm", o.min_warm, 0, 64));
  KILN_RETURN_IF_ERROR(CheckRange("queue_size", o.queue_size, 0, 100000));
  KILN_RETURN_IF_ERROR(CheckRange("recycle_after", o.recycle_after, 1, int64_t{1} << 40));
  KILN_RETURN_IF_ERROR(CheckWindow("idle_evict_s", o.idle_evict_s));
  KILN_RETURN_IF_ERROR(CheckWindow("scale_to_zero_s", o.scale_to_zero_s));
  PoolSettings s = Resolve(node, o);
  if (s.min_warm > s.max_containers) {
    return InvalidArgument("min_warm (" + std::to_string(s.min_warm) +
                           ") must not exceed max_containers (" +
                           std::to_string(s.max_containers) + ")");
  }
  return OkStatus();
}

}  // namespace kiln::pool
