// DESIGN: the places of one function version: how many containers it may have at
// once (SPEC §2 max_containers). Every container holds a place from before it starts
// (so starts in flight count) until it is gone; this ledger is the only way to get
// one, and the cap is checked here and nowhere else.
//
// The one exception is a recycle. A container that served its share (recycle_after)
// may take one place beyond the cap for its successor, so that the recycle costs no
// request a cold start; one such place per version at a time, and only while the
// container it replaces is there: when that one gives its place back, the version is
// at or below its cap again. So at every instant
//     taken <= max_containers + (a recycle in progress ? 1 : 0) <= max_containers + 1.
// Memory is the pool's budget, not this ledger's.
// Threading: used on the pool's thread only (the daemon's I/O thread); no locks.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::pool {

class PlaceLedger {
 public:
  explicit PlaceLedger(size_t max_containers) : max_(max_containers) {}

  // Whether a place can be had: under the cap or, for the successor of the container
  // `replaced` (its id), the one place beyond it while no other recycle holds that.
  bool Admits(std::optional<std::string_view> replaced = std::nullopt) const;
  // Takes the place Admits said could be had (a broken invariant otherwise).
  void Take(std::optional<std::string_view> replaced = std::nullopt);
  // A place given back: by the container `holder` (its id) once it is gone, or with
  // nullopt by a start that made no container.
  void Give(std::optional<std::string_view> holder);

  size_t taken() const { return taken_; }
  size_t max() const { return max_; }
  // Under the cap: a new container may start without a recycle to excuse it.
  size_t free() const { return taken_ < max_ ? max_ - taken_ : 0; }
  // The container whose successor holds the place beyond the cap.
  const std::optional<std::string>& replacing() const { return replacing_; }

 private:
  void CheckInvariant() const;

  size_t max_;
  size_t taken_ = 0;
  std::optional<std::string> replacing_;
};

}  // namespace kiln::pool
