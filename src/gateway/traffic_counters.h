// DESIGN: what the front door has seen since the daemon started, for GET /metrics
// (issue #15's front-door counters): connections accepted, refused over a cap and
// open; accept errors (out of descriptors); requests answered, by status class; and
// requests refused from their header alone, their body never read.
//
// Threads: HttpServer and its connections count; /metrics reads. Each figure is a
// relaxed atomic (no lock on the request path, and several I/O threads may count);
// a reader sees each figure whole, not the set of them at one instant.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace kiln::gateway {

class TrafficCounters {
 public:
  enum class Refused { kNodeCap, kAddressCap };

  void Accepted() { Add(accepted_); }
  void AcceptFailed() { Add(accept_errors_); }
  void RefusedConnection(Refused why) { Add(why == Refused::kNodeCap ? refused_node_cap_ : refused_address_cap_); }
  void Opened() { Add(open_); }
  void Closed() { open_.fetch_sub(1, std::memory_order_relaxed); }
  // One answer written (or begun, for a stream), by its status code.
  void Answered(unsigned status) {
    if (status >= 100 && status < 600) Add(by_class_[status / 100 - 1]);
  }
  void BodyRefused() { Add(bodies_refused_); }

  uint64_t accepted() const { return Get(accepted_); }
  uint64_t accept_errors() const { return Get(accept_errors_); }
  uint64_t refused(Refused why) const { return Get(why == Refused::kNodeCap ? refused_node_cap_ : refused_address_cap_); }
  uint64_t open() const { return Get(open_); }
  // Answers with status 100 * class_digit .. 100 * class_digit + 99; class_digit 1..5.
  uint64_t answered(int class_digit) const { return Get(by_class_.at(static_cast<size_t>(class_digit - 1))); }
  uint64_t bodies_refused() const { return Get(bodies_refused_); }

 private:
  using Counter = std::atomic<uint64_t>;
  static void Add(Counter& c) { c.fetch_add(1, std::memory_order_relaxed); }
  static uint64_t Get(const Counter& c) { return c.load(std::memory_order_relaxed); }

  Counter accepted_{0}, accept_errors_{0}, refused_node_cap_{0}, refused_address_cap_{0}, open_{0};
  std::array<Counter, 5> by_class_{};
  Counter bodies_refused_{0};
};

}  // namespace kiln::gateway
