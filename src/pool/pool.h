// DESIGN: the pool hands out containers of a function version, one request per
// container at a time. A request takes the most recently used idle container (so
// under light load a few stay hot); when all are busy and fewer than max_containers
// live, it starts one (a cold start); at the maximum it waits in a bounded FIFO and
// the next container released is handed to it directly (past the bound: throttled;
// past its deadline: refused). A container that died is dropped and its place can be
// taken by a new one. A deterministic init failure (import error, missing handler,
// exception at module scope) is remembered per version, so later requests fail fast
// with the same error instead of re-importing: versions are immutable.
//
// Not yet here (the warm-pool issue): min_warm and pre-warming at deploy, idle
// eviction, recycling after N invocations, the node memory budget.
//
// Threading: every method runs on the daemon's I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>

#include "model/records.h"
#include "pool/container.h"

namespace kiln::pool {

struct PoolConfig {
  std::string worker_path;
  std::vector<std::string> worker_env;  // the container's base environment
  size_t max_containers = 8;
  size_t queue_size = 64;
  std::chrono::milliseconds init_timeout{60000};
};

class Pool;
struct Slot;

// A container checked out of the pool; returns itself when destroyed.
class Lease {
 public:
  Lease(Pool* pool, std::shared_ptr<Slot> slot, std::shared_ptr<Container> c)
      : pool_(pool), slot_(std::move(slot)), container_(std::move(c)) {}
  Lease(Lease&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)), slot_(std::move(o.slot_)), container_(std::move(o.container_)) {}
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease& operator=(Lease&&) = delete;
  ~Lease();

  Container& container() { return *container_; }

 private:
  Pool* pool_;
  std::shared_ptr<Slot> slot_;
  std::shared_ptr<Container> container_;
};

struct Acquired {
  Lease lease;
  bool cold = false;
  double init_ms = 0;
  std::string init_logs;  // module-scope output of a cold start
};

// Why no container could be had.
struct Refusal {
  RunStatus status;  // error (init failure), timeout, crashed, throttled
  int http_status;
  std::string error_type;
  std::string message;
  std::string logs;
  std::optional<double> init_ms;
  bool cold = false;  // a cold start was attempted (and failed)
};

// Builds the INIT header of a version (paths, env); supplied by the daemon.
using InitHeaderFn = std::function<Result<std::string>(const FunctionVersion&)>;

class Pool {
 public:
  Pool(asio::any_io_executor ex, PoolConfig config, InitHeaderFn init_header);
  ~Pool();

  asio::awaitable<std::variant<Acquired, Refusal>> Acquire(
      const FunctionVersion& fv, std::chrono::steady_clock::time_point deadline);

  // Kills every container (daemon shutdown).
  void Shutdown();

 private:
  friend class Lease;
  void Release(const std::shared_ptr<Slot>& slot, std::shared_ptr<Container> container);
  asio::awaitable<std::variant<Acquired, Refusal>> StartContainer(
      const FunctionVersion& fv, const std::shared_ptr<Slot>& slot);

  asio::any_io_executor ex_;
  PoolConfig config_;
  InitHeaderFn init_header_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;  // by "function:version"
  int64_t next_container_ = 1;
};

}  // namespace kiln::pool
