// DESIGN: async (background) runs (SPEC §4, §6; issue #6). Enqueue() records the run
// (status queued) and its queue entry in the store, in one transaction, before the
// caller answers 202: a crash after that loses nothing. The runner's loop leases
// ready runs from the store (the lease, renewed while a run goes on, is what a
// daemon that died leaves behind; at start every lease is released, so those runs
// are delivered again, their attempt counted), and delivers each on the version it
// was queued for, through the dispatcher, with the async budget.
//
// Sharing the pool with sync requests: a run only starts when the pool has room for
// it and still for the next sync request (Pool::HasRoomForAsync), and never waits in
// the pool's queue; otherwise it goes back to the queue for a moment (no_room_delay),
// or until a delivery of the same function ends and frees a container, whichever
// comes first. So sync requests are served first and no async run makes one wait
// for a container, and a map step's elements follow each other without a pause.
//
// At least once: a delivery that ends in a timeout, oom or crash (or a handler error,
// with retry_on_error) is queued again with exponential backoff while retries remain;
// a run queued longer than max_event_age_s ends expired. The final record is made
// durable (RunRecorder::Flush) before the run leaves the queue, so a crash in between
// delivers it again rather than losing it.
// Runs of pipeline steps (pipeline_runner) are queued runs too, carrying their pipeline
// run and their step's budget; when one leaves the queue, the step-end hook is called
// so the pipeline can go on at once.
// Threading: the daemon's I/O thread; every store call goes through the store lane
// (runs/store_lane.h) and is awaited, so no commit holds the I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "dispatch/dispatcher.h"
#include "registry/catalog.h"
#include "runs/run_recorder.h"
#include "runs/store_lane.h"
#include "store/store.h"

namespace kiln::runs {

namespace asio = boost::asio;

struct AsyncConfig {
  size_t max_running = 16;                         // async runs in flight on this node
  std::chrono::milliseconds poll{100};             // how often the queue is looked at
  std::chrono::milliseconds lease{30000};          // a delivery's lease, renewed every third of it
  std::chrono::milliseconds no_room_delay{200};    // a run that found no room tries again after
  std::chrono::milliseconds backoff{1000};         // the first retry's delay; doubles each time
  std::chrono::hours idempotency_window{24};
};

struct AsyncRequest {
  FunctionVersion fv;
  std::string event;  // JSON text
  std::string trigger = "async";
  std::string route;
  std::string idempotency_key;
  int64_t request_bytes = 0;
};

class AsyncRunner {
 public:
  AsyncRunner(asio::any_io_executor ex, StoreLane* lane, Catalog* catalog, pool::Pool* pool,
              dispatch::Dispatcher* dispatcher, RunRecorder* recorder, AsyncConfig config);

  // Durable before it resumes. kResourceExhausted past the function's max_queued.
  asio::awaitable<Result<Enqueued>> Enqueue(AsyncRequest req);

  // Releases what a dead daemon leased, then starts the loop.
  Status Start();
  void Stop();
  // Looks at the queue now (runs were queued from elsewhere).
  void Wake() { timer_.cancel(); }
  // Called with the pipeline run's id when a run of one of its steps leaves the
  // queue, its final record durable.
  void SetStepEndHook(std::function<void(const std::string& pipeline_run)> hook) { step_end_ = std::move(hook); }

 private:
  asio::awaitable<void> Loop();
  asio::awaitable<void> Deliver(QueuedRun q);
  asio::awaitable<void> RenewLeases();
  // Out of the queue for good (its final record is durable).
  asio::awaitable<void> Dequeue(const QueuedRun& q);
  // A delivery of `function` ended: its runs that found no room are ready now.
  asio::awaitable<void> ReadyRoomWaiters(const std::string& function);

  asio::any_io_executor ex_;
  StoreLane* lane_;
  Catalog* catalog_;
  pool::Pool* pool_;
  dispatch::Dispatcher* dispatcher_;
  RunRecorder* recorder_;
  AsyncConfig config_;
  std::string owner_;              // this daemon's name on its leases
  std::set<std::string> running_;  // run ids delivered now
  std::map<std::string, std::set<std::string>> room_waiters_;  // function -> runs requeued for want of room
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_renewal_;
  bool stopping_ = false;
  std::function<void(const std::string&)> step_end_;
};

}  // namespace kiln::runs
