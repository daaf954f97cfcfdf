// The pool's notion of "now", injected so tests of eviction windows need not sleep.
#pragma once

#include <chrono>

namespace kiln::pool {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace kiln::pool
