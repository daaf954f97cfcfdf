// Wall-clock helpers for timestamps users read, and the milliseconds between two
// steady_clock points, the one clock durations on the hot path use.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kiln {

inline double MsBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
inline double MsSince(std::chrono::steady_clock::time_point since) {
  return MsBetween(since, std::chrono::steady_clock::now());
}

int64_t NowEpochMs();
// RFC 3339 UTC with milliseconds: 2026-11-28T11:43:39.123Z
std::string FormatRfc3339(int64_t epoch_ms);
// The API Gateway `requestContext.time` shape: 28/Nov/2026:11:43:39 +0000
std::string FormatClf(int64_t epoch_ms);
// "5s", "250ms", "2m", "12h", "30d", or a bare number of seconds. Returns -1 when
// malformed, not finite, or longer than 100 years.
int64_t ParseDurationMs(const std::string& text);

}  // namespace kiln
