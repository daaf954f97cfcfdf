// DESIGN: pipeline runs (SPEC §1, §4; issue #6). A pipeline run moves through its
// steps one at a time; every run of a step is an async run (async_runner), so it has
// the queue's durability, leases, retries and budget, and shares the function's pool
// with sync traffic like any background run. A map step queues one run per element of
// the list the previous result holds, so its runs go in parallel as far as the pool
// lets them (the function's max containers), and its result is their results in
// element order.
//
// State is the store's, never this object's: a pipeline run's current step, and the
// runs of each step (pipeline_tasks) with their records. Advance() reads them and
// converges: a step whose runs have all left the queue either ends the pipeline run
// (a run that did not end ok after its retries: failed, naming the step; the last
// step done: ok with its result) or queues the next step, moving current_step on in
// the same transaction. Advancing is idempotent, so it runs whenever a step's run
// leaves the queue (the async runner's hook), for every running pipeline run when the
// daemon starts (a daemon that died mid-pipeline loses nothing: its step runs are
// delivered again and the pipeline goes on), and on a slow sweep.
//
// Caps: an event handed to a step is at most max_event_bytes (the request body cap,
// the largest event a function takes), and a pipeline run keeps at most
// max_result_chars of result; past either the run ends result_too_large, with a
// message to page the results or write them to one's own store.
// Threading: the daemon's I/O thread. A definition is the I/O thread's store's (the
// control plane's, like a deploy); everything about runs goes through the store lane
// (runs/store_lane.h) and is awaited. Advances of one pipeline run may interleave at
// those awaits: each store change is conditional (the step it moves from, a run still
// running), so the second of two finds nothing left to do.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "registry/catalog.h"
#include "runs/async_runner.h"
#include "store/store.h"

namespace kiln::runs {

struct PipelineConfig {
  size_t max_event_bytes = 2u << 20;    // an event handed to a step
  size_t max_result_chars = 64u << 10;  // a pipeline run's stored result
  std::chrono::milliseconds sweep{2000};
  std::chrono::hours idempotency_window{24};
};

// Why a pipeline run ends before its last step is done.
struct PipelineEnding {
  PipelineRunStatus status = PipelineRunStatus::kFailed;
  std::string error_type;
  std::string error_message;
};

class PipelineRunner {
 public:
  PipelineRunner(asio::any_io_executor ex, Store* store, StoreLane* lane, const Catalog* catalog,
                 AsyncRunner* async, PipelineConfig config);

  // Creates or replaces the pipeline `name` from {"steps": [...]}; every step's
  // function must exist. The bool is true when it was created.
  Result<std::pair<Pipeline, bool>> Define(const std::string& name, const nlohmann::json& body);
  // Records a run of the pipeline with `input` (JSON text) as the first step's event,
  // and queues that step: durable before it returns. The same non-empty
  // `idempotency_key` for the pipeline within 24 h gives the first run's id instead.
  asio::awaitable<Result<Enqueued>> StartRun(const std::string& name, const std::string& input,
                                             const std::string& idempotency_key);
  // Goes on with the pipeline run if its current step is done (in the background).
  void Advance(const std::string& id);

  // Advances every running pipeline run (a dead daemon's too), then sweeps them.
  void Start();
  void Stop();

 private:
  // The records and events of step `index`'s runs for `event` (one, or one per element).
  Result<std::vector<StepRun>> StepRuns(const PipelineRun& run, size_t index, const std::string& event) const;
  // The step's result from its runs (all out of the queue), or why the run ends here.
  std::variant<std::string, PipelineEnding> StepResult(const PipelineRun& run,
                                                       const std::vector<PipelineTask>& tasks) const;
  // One step of converging; true when it moved on to a step with nothing queued.
  asio::awaitable<bool> AdvanceOnce(const std::string& id);
  asio::awaitable<void> AdvanceAll(std::string id);
  asio::awaitable<void> End(PipelineRun run, const PipelineEnding& why);
  asio::awaitable<void> Sweep();

  asio::any_io_executor ex_;
  Store* store_;  // definitions
  StoreLane* lane_;  // runs
  const Catalog* catalog_;
  AsyncRunner* async_;
  PipelineConfig config_;
  asio::steady_timer timer_;
  bool stopping_ = false;
};

}  // namespace kiln::runs
