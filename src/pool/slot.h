// DESIGN: one function version's place in the pool: its settings, its containers
// (idle ones most recently used last), its places (place_ledger.h), its snapshot
// template, a remembered init failure, and the requests waiting for a container, in
// arrival order. The pool's files share it; it has no behaviour of its own beyond
// waking waiters. Threads: the pool's (the daemon's I/O thread).
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pool/pool.h"
#include "pool/snapshot_template.h"

namespace kiln::pool {

// "name:version", the key of a version's slot and of its log lines.
inline std::string KeyOf(const FunctionVersion& fv) { return fv.function + ":" + std::to_string(fv.version); }

// One function version's containers and the requests waiting for one.
struct Slot {
  Slot(FunctionVersion v, PoolSettings resolved, TimePoint now)
      : fv(std::move(v)), settings(resolved), places(resolved.max_containers), last_activity(now) {}

  FunctionVersion fv;
  PoolSettings settings;
  bool aspired = false;     // keep min_warm
  bool superseded = false;  // drained: nothing stays idle
  std::vector<std::shared_ptr<Container>> idle;     // most recently used last
  std::vector<std::shared_ptr<Container>> members;  // every spawned container with a place
  PlaceLedger places;  // members plus starts not yet spawned; each holds memory_mb of budget
  TimePoint last_activity;
  TimePoint no_background_start_before;  // back-off after a failed background start
  std::optional<Refusal> init_failure;   // remembered deterministic init failure
  std::string init_failure_logs;          // its init phase's output, for a deploy's record
  std::optional<ContainerSpec> spec;     // computed once: versions are immutable

  // Snapshot mode: the template (outside members and places; its memory is in the
  // budget), or why there is none.
  SnapshotTemplate snapshot;

  // A queued request is woken with a container, a place to start one in, or news.
  enum class Wake { kNone, kHanded, kPlace, kInitFailed, kStopping };
  struct Waiter {
    asio::steady_timer* timer;
    Wake* wake;
    std::shared_ptr<Container>* handed;
    uint64_t seq;  // arrival order across all versions
  };
  std::deque<Waiter> waiters;

  void WakeFront(Wake why, std::shared_ptr<Container> c = nullptr) {
    Waiter w = waiters.front();
    waiters.pop_front();
    *w.handed = std::move(c);
    *w.wake = why;
    w.timer->cancel();
  }
  void WakeAll(Wake why) {
    while (!waiters.empty()) WakeFront(why);
  }
};

}  // namespace kiln::pool
