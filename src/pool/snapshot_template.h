// DESIGN: a snapshot version's template (issue #7): a container whose init phase and
// first request are done, set aside to fork containers from (sandbox/fork_server.h).
// Its lifecycle, with the legal transitions written once (Transition checks them):
//
//   none -> making    a container that served its first request is asked to snapshot
//   making -> ready   it said yes: it leaves the serving set; a spare child is made
//   none | making -> refused
//                     the fork-safety check at the version's first init, or the
//                     snapshot itself, said it is not safe to fork (or the container
//                     ended at it): zygote starts from then on (final: versions are
//                     immutable)
//   ready -> none     it died or was retired: the next container to serve becomes it
//
// Only `ready` has a container and a spare. Its memory stays in the node's budget
// while it is ready (the pool gives it back when it goes). Threads: the pool's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pool/container.h"
#include "pool/spare_child.h"

namespace kiln::pool {

class SnapshotTemplate {
 public:
  enum class State { kNone, kMaking, kReady, kRefused };
  static const char* StateName(State s);

  State state() const { return state_; }
  // Ready: the template, the spare child it keeps, and how many it forked.
  const std::shared_ptr<Container>& container() const { return container_; }
  const std::shared_ptr<SpareChild>& spare() const { return spare_; }
  int64_t forks() const { return forks_; }
  void CountFork() { ++forks_; }
  // Refused: why.
  const std::string& refusal() const { return refusal_; }

  // Whether the fork-safety check ran (once per version, at its first init).
  bool fork_safety_checked = false;

  void BeginMaking() { Transition(State::kMaking); }
  void Ready(std::shared_ptr<Container> c, std::shared_ptr<SpareChild> spare);
  void Refuse(std::string why);
  // Ready -> none (it went): returns the container it held.
  std::shared_ptr<Container> Reset();

 private:
  void Transition(State to);

  State state_ = State::kNone;
  std::shared_ptr<Container> container_;
  std::shared_ptr<SpareChild> spare_;
  int64_t forks_ = 0;
  std::string refusal_;
};

}  // namespace kiln::pool
