// DESIGN: the store is Kiln's durable state behind one interface, so the embedded
// SQLite store (one node) and a PostgreSQL store (several nodes, later) are
// interchangeable. An instance is used by one thread at a time; open one per thread
// that needs it (the daemon opens one for its I/O thread and one for the run
// recorder). Numbering (function versions, layer versions) is assigned inside the
// store, atomically.
#pragma once

#include <map>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/pipeline_records.h"
#include "model/records.h"

namespace kiln {

struct RunFilter {
  std::string function;             // empty: all
  std::optional<RunStatus> status;
  std::optional<bool> cold;
  std::optional<int64_t> since_ms;  // started at or after
  bool with_logs = false;
  int limit = 50;
};

// An async run waiting in the queue (or leased by a daemon that runs it).
struct QueuedRun {
  std::string run_id;
  std::string function;
  int64_t version = 0;
  std::string event;  // JSON text
  std::string route;  // "POST /path" when it came through a route
  int64_t enqueued_at = 0;  // epoch ms
  int attempt = 0;          // deliveries started so far
  std::string pipeline_run;  // the pipeline run it is a step of; empty for a plain async run
  int64_t budget_ms = 0;     // each attempt's budget; 0: the function's async timeout
};

// A run of a pipeline step to queue: its record (status queued), its event, which
// element of a map step it is (0 for a plain step), its budget, and its function's
// bound on queued runs.
struct StepRun {
  RunRecord run;
  std::string event;  // JSON text
  int64_t element = 0;
  int64_t budget_ms = 0;
  int64_t max_queued = 0;
};

struct Enqueued {
  std::string run_id;
  bool created = true;  // false: an Idempotency-Key seen before gave the first run's id
};

class Store {
 public:
  virtual ~Store() = default;

  // Assigns the next version number of v.function and stores it.
  virtual Result<FunctionVersion> CreateVersion(FunctionVersion v) = 0;
  virtual Result<std::vector<FunctionVersion>> ListVersions(const std::string& function) = 0;
  // Every function's latest version.
  virtual Result<std::vector<FunctionVersion>> ListLatestVersions() = 0;
  virtual Status SetVersionState(const std::string& function, int64_t version, VersionState state,
                                 const std::string& message) = 0;
  // Marks versions left `starting` by a daemon that died mid-deploy as failed.
  virtual Result<int64_t> FailInterruptedDeploys(const std::string& message) = 0;

  // Each function's serving version (issue #15): what routes that follow it get. A
  // version created ready serves at once; PublishVersion makes a starting one ready and
  // serving in one transaction; SetServing moves serving to another ready version.
  virtual Result<std::map<std::string, int64_t>> ListServing() = 0;
  virtual Status PublishVersion(const std::string& function, int64_t version) = 0;
  virtual Status SetServing(const std::string& function, int64_t version) = 0;  // kConflict: not ready
  // Removes every version of the function and its routes, in one transaction; its
  // version numbers are not reused. Run records stay.
  virtual Status DeleteFunction(const std::string& function) = 0;
  virtual Status DeleteVersion(const std::string& function, int64_t version) = 0;  // kConflict: serving

  virtual Result<Route> CreateRoute(Route r) = 0;  // kConflict on a taken method + path
  virtual Status UpdateRoute(int64_t id, const std::string& function, std::optional<int64_t> version) = 0;
  virtual Result<std::vector<Route>> ListRoutes() = 0;
  virtual Status DeleteRoute(int64_t id) = 0;

  virtual Status CreateKey(const ApiKeyRecord& k) = 0;
  virtual Result<std::vector<ApiKeyRecord>> ListKeys() = 0;
  virtual Status DeleteKey(const std::string& id) = 0;  // kNotFound
  // A new secret for the key; the previous one stays valid until previous_valid_until.
  virtual Status RotateKey(const std::string& id, const std::string& secret_sha256,
                           const std::string& previous_sha256, int64_t previous_valid_until) = 0;
  // Last uses (key id, epoch ms), in one transaction; a time never moves back.
  virtual Status RecordKeyUse(const std::vector<std::pair<std::string, int64_t>>& last_used) = 0;

  // Assigns the next version number of l.name.
  virtual Result<LayerVersion> CreateLayerVersion(LayerVersion l) = 0;
  virtual Result<std::vector<LayerVersion>> ListLayerVersions(const std::string& name) = 0;  // "" = all
  virtual Status DeleteLayerVersion(const std::string& name, int64_t version) = 0;

  // Inserts runs and containers, or updates them when their id is known (running ->
  // final, live -> ended), in one transaction.
  virtual Status UpsertRecords(const std::vector<RunRecord>& runs,
                               const std::vector<ContainerRecord>& containers) = 0;
  // Closes containers left live by a daemon that died; returns how many.
  virtual Result<int64_t> CloseInterruptedContainers(const std::string& reason) = 0;
  // Ended containers, the most recently ended first.
  virtual Result<std::vector<ContainerRecord>> ListEndedContainers(int limit) = 0;
  // Closes runs left `running` by a daemon that died (not queued async runs); returns how many.
  virtual Result<int64_t> CloseInterruptedRuns(const std::string& message) = 0;
  virtual Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;
  virtual Result<RunRecord> GetRun(const std::string& id) = 0;
  // Up to `limit` run ids that start with `prefix`, in order.
  virtual Result<std::vector<std::string>> FindRunIds(const std::string& prefix, int limit) = 0;
  // The figures of the function's runs started at or after `since_ms` (run_stats.h).
  // Each is handed to `visit` as it is read, not gathered: a stats call reads about
  // 100,000 of them.
  virtual Status VisitRunSamples(const std::string& function, int64_t since_ms,
                                 const std::function<void(const RunSample&)>& visit) = 0;
  // When the function's newest run started, if it has any.
  virtual Result<std::optional<int64_t>> LastRunStarted(const std::string& function) = 0;

  // The durable queue of async runs (issue #6). EnqueueRun records the run (status
  // queued) and its queue entry in one transaction, so the 202 comes after both are
  // durable. A non-empty `idempotency_key` already used for the function since
  // `dedupe_since` (epoch ms) records nothing and returns that run's id. More than
  // `max_queued` runs of the function waiting → kResourceExhausted.
  virtual Result<Enqueued> EnqueueRun(const RunRecord& run, const std::string& event,
                                      const std::string& idempotency_key, int64_t dedupe_since,
                                      int64_t max_queued) = 0;
  // Up to `limit` runs ready at `now` whose lease is free or has run out, oldest first,
  // leased to `owner` until `lease_until`.
  virtual Result<std::vector<QueuedRun>> LeaseRuns(const std::string& owner, int64_t now, int64_t lease_until,
                                                   int limit) = 0;
  virtual Status RenewLeases(const std::string& owner, const std::vector<std::string>& run_ids,
                             int64_t lease_until) = 0;
  // A delivery starts: its attempt number, durable before the handler runs.
  virtual Status StartAttempt(const std::string& run_id, int attempt) = 0;
  // Back in the queue, ready at `available_at`, its lease released.
  virtual Status RequeueRun(const std::string& run_id, int64_t available_at) = 0;
  // Those of `run_ids` still waiting (not leased) become ready at `now`.
  virtual Status MakeReady(const std::vector<std::string>& run_ids, int64_t now) = 0;
  // Done (its final record written): out of the queue.
  virtual Status DeleteQueuedRun(const std::string& run_id) = 0;
  // Runs in the queue (waiting or leased) and when the oldest was enqueued (epoch ms).
  virtual Result<std::pair<int64_t, std::optional<int64_t>>> QueueDepth() = 0;
  // At start: every lease is a dead daemon's; its runs go back to the queue (status
  // queued) to be delivered again. Returns how many.
  virtual Result<int64_t> ReleaseLeases() = 0;

  // Pipelines (issue #6). PutPipeline creates or replaces a definition (true: created).
  virtual Result<bool> PutPipeline(const Pipeline& p) = 0;
  virtual Result<Pipeline> GetPipeline(const std::string& name) = 0;  // kNotFound
  virtual Result<std::vector<Pipeline>> ListPipelines() = 0;
  virtual Status DeletePipeline(const std::string& name) = 0;  // kNotFound
  // Records a pipeline run and queues its first step's runs, in one transaction. A
  // step's runs that would take its function past max_queued → kResourceExhausted. A
  // non-empty `idempotency_key` already used for the pipeline since `dedupe_since`
  // records nothing and returns that pipeline run's id.
  virtual Result<Enqueued> CreatePipelineRun(const PipelineRun& run, const std::vector<StepRun>& first,
                                             const std::string& idempotency_key, int64_t dedupe_since) = 0;
  // Moves a running pipeline run from step `from` to `from + 1` and queues that step's
  // runs, in one transaction; false (nothing written) when the run is no longer
  // running at `from`, so advancing twice is harmless.
  virtual Result<bool> AdvancePipelineRun(const std::string& id, int64_t from, const std::vector<StepRun>& next) = 0;
  // Ends a running pipeline run with run.status, failed_step, error and result; false
  // when it had ended already.
  virtual Result<bool> EndPipelineRun(const PipelineRun& run) = 0;
  virtual Result<PipelineRun> GetPipelineRun(const std::string& id) = 0;  // kNotFound
  // Newest first; `pipeline` "" = all, `running_only` for the runs still under way.
  virtual Result<std::vector<PipelineRun>> ListPipelineRuns(const std::string& pipeline, bool running_only,
                                                            int limit) = 0;
  // Pipeline runs kept (ended ones until retention), by status name.
  virtual Result<std::map<std::string, int64_t>> CountPipelineRunsByStatus() = 0;
  // The runs of a pipeline run's step (all steps when unset), by step then element.
  virtual Result<std::vector<PipelineTask>> ListPipelineTasks(const std::string& id,
                                                              std::optional<int64_t> step) = 0;
  // How many runs of the step are still in the async queue.
  virtual Result<int64_t> CountPendingTasks(const std::string& id, int64_t step) = 0;

  // Retention: deletes up to `limit` rows of each kind, in one transaction: runs that
  // ended and started before `before` (never one still queued or part of a running
  // pipeline run), containers and pipeline runs that ended before it (with their
  // step links), and idempotency keys made before `keys_before`. Returns how many.
  virtual Result<int64_t> PurgeOldRecords(int64_t before, int64_t keys_before, int limit) = 0;
};

}  // namespace kiln
