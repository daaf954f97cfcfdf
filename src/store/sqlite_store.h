// The embedded store: one SQLite database in WAL mode under the data folder. It is
// also the audit log (AuditLog, sqlite_audit.cc).
// Schema changes are numbered migrations applied at open (PRAGMA user_version).
#pragma once

#include "store/sqlite_db.h"

#include <functional>
#include <memory>
#include <string>

#include "store/audit_log.h"
#include "store/store.h"

struct sqlite3;

namespace kiln {

class SqliteStore final : public Store, public AuditLog {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;

  Result<FunctionVersion> CreateVersion(FunctionVersion v) override;
  Result<std::vector<FunctionVersion>> ListVersions(const std::string& function) override;
  Result<std::vector<FunctionVersion>> ListLatestVersions() override;
  Result<Route> CreateRoute(Route r) override;
  Result<std::vector<Route>> ListRoutes() override;
  Status DeleteRoute(int64_t id) override;
  // sqlite_functions.cc
  Result<std::map<std::string, int64_t>> ListServing() override;
  Status PublishVersion(const std::string& function, int64_t version) override;
  Status SetServing(const std::string& function, int64_t version) override;
  Status DeleteFunction(const std::string& function) override;
  Status DeleteVersion(const std::string& function, int64_t version) override;
  Status UpdateRoute(int64_t id, const std::string& function, std::optional<int64_t> version) override;
  Result<std::vector<std::string>> FindRunIds(const std::string& prefix, int limit) override;
  Status VisitRunSamples(const std::string& function, int64_t since_ms,
                         const std::function<void(const RunSample&)>& visit) override;
  Result<std::optional<int64_t>> LastRunStarted(const std::string& function) override;
  Status CreateKey(const ApiKeyRecord& k) override;
  Result<std::vector<ApiKeyRecord>> ListKeys() override;
  Status DeleteKey(const std::string& id) override;
  Status RotateKey(const std::string& id, const std::string& secret_sha256, const std::string& previous_sha256,
                   int64_t previous_valid_until) override;
  Status RecordKeyUse(const std::vector<std::pair<std::string, int64_t>>& last_used) override;
  Result<LayerVersion> CreateLayerVersion(LayerVersion l) override;
  Result<std::vector<LayerVersion>> ListLayerVersions(const std::string& name) override;
  Status DeleteLayerVersion(const std::string& name, int64_t version) override;
  Status SetVersionState(const std::string& function, int64_t version, VersionState state,
                         const std::string& message) override;
  Result<int64_t> FailInterruptedDeploys(const std::string& message) override;
  Status UpsertRecords(const std::vector<RunRecord>& runs,
                       const std::vector<ContainerRecord>& containers) override;
  Result<int64_t> CloseInterruptedContainers(const std::string& reason) override;
  Result<std::vector<ContainerRecord>> ListEndedContainers(int limit) override;
  Result<int64_t> CloseInterruptedRuns(const std::string& message) override;
  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  Result<RunRecord> GetRun(const std::string& id) override;
  Result<Enqueued> EnqueueRun(const RunRecord& run, const std::string& event, const std::string& idempotency_key,
                              int64_t dedupe_since, int64_t max_queued) override;
  Result<std::vector<QueuedRun>> LeaseRuns(const std::string& owner, int64_t now, int64_t lease_until,
                                           int limit) override;
  Status RenewLeases(const std::string& owner, const std::vector<std::string>& run_ids,
                     int64_t lease_until) override;
  Status StartAttempt(const std::string& run_id, int attempt) override;
  Status RequeueRun(const std::string& run_id, int64_t available_at) override;
  Status MakeReady(const std::vector<std::string>& run_ids, int64_t now) override;
  Status DeleteQueuedRun(const std::string& run_id) override;
  Result<int64_t> ReleaseLeases() override;
  Result<std::pair<int64_t, std::optional<int64_t>>> QueueDepth() override;
  // sqlite_pipelines.cc
  Result<bool> PutPipeline(const Pipeline& p) override;
  Result<Pipeline> GetPipeline(const std::string& name) override;
  Result<std::vector<Pipeline>> ListPipelines() override;
  Status DeletePipeline(const std::string& name) override;
  Result<Enqueued> CreatePipelineRun(const PipelineRun& run, const std::vector<StepRun>& first,
                                     const std::string& idempotency_key, int64_t dedupe_since) override;
  Result<bool> AdvancePipelineRun(const std::string& id, int64_t from, const std::vector<StepRun>& next) override;
  Result<bool> EndPipelineRun(const PipelineRun& run) override;
  Result<PipelineRun> GetPipelineRun(const std::string& id) override;
  Result<std::vector<PipelineRun>> ListPipelineRuns(const std::string& pipeline, bool running_only,
                                                    int limit) override;
  Result<std::map<std::string, int64_t>> CountPipelineRunsByStatus() override;
  Result<std::vector<PipelineTask>> ListPipelineTasks(const std::string& id, std::optional<int64_t> step) override;
  Result<int64_t> CountPendingTasks(const std::string& id, int64_t step) override;
  Result<int64_t> PurgeOldRecords(int64_t before, int64_t keys_before, int limit) override;
  // sqlite_audit.cc
  Status AppendAudit(const AuditEntry& e) override;
  Result<std::vector<AuditEntry>> ListAudit(int64_t since, int limit) override;
  Result<int64_t> PurgeAudit(int64_t before, int limit) override;

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  Status Migrate();
  Status Exec(const char* sql);
  // BEGIN IMMEDIATE; body; COMMIT, or ROLLBACK when the body fails.
  Status InTransaction(const std::function<Status()>& body);
  Result<int64_t> NextVersion(const char* table, const char* key_column, const std::string& key);
  Status UpsertRunsInTransaction(const std::vector<RunRecord>& runs);
  Status SetServingInTransaction(const std::string& function, int64_t version);
  // A queue row for `run` (recorded already), within a transaction.
  Status InsertQueueRow(const RunRecord& run, const std::string& event, const std::string& pipeline_run,
                        int64_t budget_ms);
  // Idempotency keys, per scope (a function's name, or "pipeline:<name>"): the run id
  // a key was given to since `since`, if any; and a key given to a run.
  Result<std::optional<std::string>> SeenKey(const std::string& scope, const std::string& key, int64_t since);
  Status RememberKey(const std::string& scope, const std::string& key, const std::string& run_id, int64_t at);
  // kResourceExhausted when `adding` more queued runs would take `function` past `max_queued`.
  Status CheckQueueBound(const std::string& function, int64_t adding, int64_t max_queued);
  // Records and queues a step's runs, and links them to their pipeline run, within a transaction.
  Status QueueStepRuns(const std::string& pipeline_run, int64_t step, const std::vector<StepRun>& runs);
  Status UpsertContainersInTransaction(const std::vector<ContainerRecord>& containers);
  Result<std::vector<FunctionVersion>> QueryVersions(const char* sql, const std::string& arg);
  Result<std::vector<RunRecord>> QueryRuns(const std::string& where,
                                           const std::vector<std::string>& args, int limit,
                                           bool with_logs);
  Result<std::vector<PipelineRun>> QueryPipelineRuns(const std::string& where, const std::string& arg, int limit);

  SqliteDb db_;
};

}  // namespace kiln
