// DESIGN: the node's memory budget (SPEC §2: the memory limits of live containers, and
// what the zygotes reserve, stay under a total, by default 75 % of RAM). Like TF
// Serving's ResourceTracker it only keeps the count and says whether a need fits;
// choosing whom to evict to make room is the pool's (reconcile_policy's
// PickBudgetVictims), and the zygotes keep their own reserve (zygotes.h), read here.
//
// A place in a version's ledger (place_ledger.h) holds the version's memory_mb from
// the moment it is claimed (before its container is spawned) until it is given back;
// a snapshot template keeps holding it after it leaves the serving set.
//
// Threads: the pool's (the daemon's I/O thread); no locks.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln::pool {

class MemoryBudget {
 public:
  // `reserved_mb` says what the zygotes hold now.
  MemoryBudget(int64_t total_mb, std::function<int64_t()> reserved_mb)
      : total_mb_(total_mb), reserved_mb_(std::move(reserved_mb)) {}

  int64_t total_mb() const { return total_mb_; }
  // Containers' limits and the zygotes' reserve.
  int64_t used_mb() const { return held_mb_ + reserved_mb_(); }
  // May be negative: the zygotes' reserve is not refused when it grows.
  int64_t free_mb() const { return total_mb_ - used_mb(); }
  bool Fits(int64_t mb) const { return free_mb() >= mb; }

  // A container's limit, taken when its place is claimed and given back when the
  // place is (or the template holding it goes). The caller checked Fits.
  void Take(int64_t mb) { held_mb_ += mb; }
  void Give(int64_t mb) { held_mb_ -= mb; }

 private:
  int64_t total_mb_;
  std::function<int64_t()> reserved_mb_;
  int64_t held_mb_ = 0;  // containers' limits (places and templates)
};

}  // namespace kiln::pool
