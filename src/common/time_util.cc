#include "common/time_util.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace kiln {

int64_t NowEpochMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

static std::tm UtcTm(int64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

std::string FormatRfc3339(int64_t epoch_ms) {
  std::tm tm = UtcTm(epoch_ms);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(epoch_ms % 1000));
  return buf;
}

std::string FormatClf(int64_t epoch_ms) {
  std::tm tm = UtcTm(epoch_ms);
  char buf[64];
  std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S +0000", &tm);
  return buf;
}

namespace {
constexpr double kMaxDurationMs = 100.0 * 365 * 86400000;  // 100 years
}  // namespace

int64_t ParseDurationMs(const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (...) {
    return -1;
  }
  if (value < 0) return -1;
  std::string unit = text.substr(pos);
  double ms;
  if (unit.empty() || unit == "s") {
    ms = value * 1000;
  } else if (unit == "ms") {
    ms = value;
  } else if (unit == "m") {
    ms = value * 60000;
  } else if (unit == "h") {
    ms = value * 3600000;
  } else if (unit == "d") {
    ms = value * 86400000;
  } else {
    return -1;
  }
  // "nan", "inf" and 1e300s parse as doubles; none of them fits an int64 of ms.
  if (!std::isfinite(ms) || ms > kMaxDurationMs) return -1;
  return static_cast<int64_t>(ms + 0.5);
}

}  // namespace kiln
