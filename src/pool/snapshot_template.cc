#include "pool/snapshot_template.h"

#include "common/status.h"

namespace kiln::pool {

const char* SnapshotTemplate::StateName(State s) {
  switch (s) {
    case State::kNone: return "none";
    case State::kMaking: return "making";
    case State::kReady: return "ready";
    case State::kRefused: return "refused";
  }
  return "none";
}

void SnapshotTemplate::Transition(State to) {
  using S = State;
  const bool legal = (state_ == S::kNone && to == S::kMaking) || (state_ == S::kMaking && to == S::kReady) ||
                     (state_ == S::kReady && to == S::kNone) ||
                     ((state_ == S::kNone || state_ == S::kMaking) && to == S::kRefused);
  KILN_CHECK(legal);
  state_ = to;
}

void SnapshotTemplate::Ready(std::shared_ptr<Container> c, std::shared_ptr<SpareChild> spare) {
  Transition(State::kReady);
  container_ = std::move(c);
  spare_ = std::move(spare);
  forks_ = 0;
}

void SnapshotTemplate::Refuse(std::string why) {
  Transition(State::kRefused);
  refusal_ = std::move(why);
}

std::shared_ptr<Container> SnapshotTemplate::Reset() {
  Transition(State::kNone);
  spare_.reset();
  return std::exchange(container_, nullptr);
}

}  // namespace kiln::pool
