#include "pool/place_ledger.h"

#include "common/status.h"

namespace kiln::pool {

bool PlaceLedger::Admits(std::optional<std::string_view> replaced) const {
  if (taken_ < max_) return true;
  return replaced && !replacing_ && taken_ == max_;
}

void PlaceLedger::Take(std::optional<std::string_view> replaced) {
  KILN_CHECK(Admits(replaced));
  if (taken_ == max_) replacing_ = std::string(*replaced);
  ++taken_;
  CheckInvariant();
}

void PlaceLedger::Give(std::optional<std::string_view> holder) {
  KILN_CHECK(taken_ > 0);
  --taken_;
  if (holder && replacing_ == *holder) replacing_.reset();
  CheckInvariant();
}

// The cap of SPEC §2, written once: a version's containers (and starts in flight)
// exceed max_containers only by the successor of the one container being recycled.
void PlaceLedger::CheckInvariant() const {
  KILN_CHECK(taken_ <= max_ + (replacing_ ? 1 : 0));
}

}  // namespace kiln::pool
