// The SQLite store's pipelines: definitions, pipeline runs, and the link from each
// run of a step (a row of the async queue and of runs) to its pipeline run.
#include <sqlite3.h>

#include <map>
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "store/sqlite_stmt.h"
#include "store/sqlite_store.h"

namespace kiln {
namespace {

constexpr const char* kPipelineRunColumns =
    "id, pipeline, steps, status, current_step, started_at, ended_at, failed_step, error_type, error_message, "
    "result, input_bytes";

PipelineRun ReadPipelineRun(const SqliteStmt& s) {
  PipelineRun r;
  r.id = s.Text(0);
  r.pipeline = s.Text(1);
  r.steps = nlohmann::json::parse(s.Text(2)).get<std::vector<PipelineStep>>();
  r.status = ParsePipelineRunStatus(s.Text(3)).value_or(PipelineRunStatus::kFailed);
  r.current_step = s.Int(4);
  r.started_at = s.Int(5);
  if (!s.IsNull(6)) r.ended_at = s.Int(6);
  if (!s.IsNull(7)) r.failed_step = s.Int(7);
  r.error_type = s.Text(8);
  r.error_message = s.Text(9);
  r.result = s.Text(10);
  r.input_bytes = s.Int(11);
  return r;
}

}  // namespace

Result<bool> SqliteStore::PutPipeline(const Pipeline& p) {
  bool created = false;
  Status st = InTransaction([&]() -> Status {
    SqliteStmt seen(db_, "SELECT 1 FROM pipelines WHERE name = ?");
    seen.Bind(1, p.name);
    KILN_ASSIGN_OR_RETURN(bool exists, seen.Step());
    created = !exists;
    SqliteStmt put(db_,
                   "INSERT INTO pipelines (name, steps, created_at, updated_at) VALUES (?,?,?,?) "
                   "ON CONFLICT(name) DO UPDATE SET steps = excluded.steps, updated_at = excluded.updated_at");
    put.Bind(1, p.name).Bind(2, nlohmann::json(p.steps).dump()).Bind(3, p.created_at).Bind(4, p.updated_at);
    return put.Run();
  });
  if (!st.ok()) return st;
  return created;
}

Result<std::vector<Pipeline>> SqliteStore::ListPipelines() {
  SqliteStmt s(db_, "SELECT name, steps, created_at, updated_at FROM pipelines ORDER BY name");
  std::vector<Pipeline> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Text(0), nlohmann::json::parse(s.Text(1)).get<std::vector<PipelineStep>>(), s.Int(2),
                   s.Int(3)});
  }
  return out;
}

Result<Pipeline> SqliteStore::GetPipeline(const std::string& name) {
  SqliteStmt s(db_, "SELECT name, steps, created_at, updated_at FROM pipelines WHERE name = ?");
  s.Bind(1, name);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("no pipeline " + name);
  return Pipeline{s.Text(0), nlohmann::json::parse(s.Text(1)).get<std::vector<PipelineStep>>(), s.Int(2), s.Int(3)};
}

Status SqliteStore::DeletePipeline(const std::string& name) {
  SqliteStmt s(db_, "DELETE FROM pipelines WHERE name = ?");
  s.Bind(1, name);
  KILN_RETURN_IF_ERROR(s.Run());
  return sqlite3_changes(db_) > 0 ? OkStatus() : NotFound("no pipeline " + name);
}

Status SqliteStore::QueueStepRuns(const std::string& pipeline_run, int64_t step, const std::vector<StepRun>& runs) {
  std::map<std::string, std::pair<int64_t, int64_t>> per_function;  // adding, max_queued
  for (const StepRun& r : runs) {
    auto& [adding, max] = per_function[r.run.function];
    ++adding;
    max = r.max_queued;
  }
  for (const auto& [function, bound] : per_function) {
    KILN_RETURN_IF_ERROR(CheckQueueBound(function, bound.first, bound.second));
  }
  std::vector<RunRecord> records;
  for (const StepRun& r : runs) records.push_back(r.run);
  KILN_RETURN_IF_ERROR(UpsertRunsInTransaction(records));
  SqliteStmt link(db_, "INSERT INTO pipeline_tasks (pipeline_run, step, element, run_id) VALUES (?,?,?,?)");
  for (const StepRun& r : runs) {
    KILN_RETURN_IF_ERROR(InsertQueueRow(r.run, r.event, pipeline_run, r.budget_ms));
    link.Bind(1, pipeline_run).Bind(2, step).Bind(3, r.element).Bind(4, r.run.id);
    KILN_RETURN_IF_ERROR(link.Run());
    link.Reset();
  }
  return OkStatus();
}

Result<Enqueued> SqliteStore::CreatePipelineRun(const PipelineRun& run, const std::vector<StepRun>& first,
                                                const std::string& idempotency_key, int64_t dedupe_since) {
  const std::string scope = "pipeline:" + run.pipeline;  // ':' is in no function's name
  Enqueued out{run.id, true};
  Status st = InTransaction([&]() -> Status {
    KILN_ASSIGN_OR_RETURN(auto seen, SeenKey(scope, idempotency_key, dedupe_since));
    if (seen) {
      out = {*seen, false};
      return OkStatus();
    }
    std::string sql = std::string("INSERT INTO pipeline_runs (") + kPipelineRunColumns +
                      ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)";
    SqliteStmt ins(db_, sql.c_str());
    ins.Bind(1, run.id).Bind(2, run.pipeline).Bind(3, nlohmann::json(run.steps).dump());
    ins.Bind(4, std::string(PipelineRunStatusName(run.status))).Bind(5, run.current_step).Bind(6, run.started_at);
    ins.Bind(7, run.ended_at).Bind(8, run.failed_step).Bind(9, run.error_type).Bind(10, run.error_message);
    ins.Bind(11, run.result).Bind(12, run.input_bytes);
    KILN_RETURN_IF_ERROR(ins.Run());
    KILN_RETURN_IF_ERROR(QueueStepRuns(run.id, run.current_step, first));
    return RememberKey(scope, idempotency_key, run.id, run.started_at);
  });
  if (!st.ok()) return st;
  return out;
}

Result<bool> SqliteStore::AdvancePipelineRun(const std::string& id, int64_t from, const std::vector<StepRun>& next) {
  bool moved = false;
  Status st = InTransaction([&]() -> Status {
    SqliteStmt up(db_,
                  "UPDATE pipeline_runs SET current_step = current_step + 1 "
                  "WHERE id = ? AND current_step = ? AND status = 'running'");
    up.Bind(1, id).Bind(2, from);
    KILN_RETURN_IF_ERROR(up.Run());
    moved = sqlite3_changes(db_) > 0;
    return moved ? QueueStepRuns(id, from + 1, next) : OkStatus();
  });
  if (!st.ok()) return st;
  return moved;
}

Result<bool> SqliteStore::EndPipelineRun(const PipelineRun& run) {
  SqliteStmt s(db_,
               "UPDATE pipeline_runs SET status = ?, ended_at = ?, failed_step = ?, error_type = ?, "
               "error_message = ?, result = ? WHERE id = ? AND status = 'running'");
  s.Bind(1, std::string(PipelineRunStatusName(run.status))).Bind(2, run.ended_at).Bind(3, run.failed_step);
  s.Bind(4, run.error_type).Bind(5, run.error_message).Bind(6, run.result).Bind(7, run.id);
  KILN_RETURN_IF_ERROR(s.Run());
  return sqlite3_changes(db_) > 0;
}

Result<std::vector<PipelineRun>> SqliteStore::QueryPipelineRuns(const std::string& where, const std::string& arg,
                                                                 int limit) {
  std::string sql = std::string("SELECT ") + kPipelineRunColumns + " FROM pipeline_runs WHERE " + where +
                    " ORDER BY seq DESC LIMIT ?";
  SqliteStmt s(db_, sql.c_str());
  KILN_RETURN_IF_ERROR(s.prepared());
  s.Bind(1, arg).Bind(2, int64_t{limit});
  std::vector<PipelineRun> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadPipelineRun(s));
  }
  return out;
}

Result<PipelineRun> SqliteStore::GetPipelineRun(const std::string& id) {
  KILN_ASSIGN_OR_RETURN(auto runs, QueryPipelineRuns("id = ?", id, 1));
  if (runs.empty()) return NotFound("no pipeline run with id " + id);
  return std::move(runs.front());
}

Result<std::vector<PipelineRun>> SqliteStore::ListPipelineRuns(const std::string& pipeline, bool running_only,
                                                               int limit) {
  std::string where = pipeline.empty() ? "? = ''" : "pipeline = ?";
  if (running_only) where += " AND status = 'running'";
  return QueryPipelineRuns(where, pipeline, limit);
}

Result<std::map<std::string, int64_t>> SqliteStore::CountPipelineRunsByStatus() {
  SqliteStmt s(db_, "SELECT status, COUNT(*) FROM pipeline_runs GROUP BY status");
  std::map<std::string, int64_t> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out[s.Text(0)] = s.Int(1);
  }
}

Result<std::vector<PipelineTask>> SqliteStore::ListPipelineTasks(const std::string& id,
                                                                 std::optional<int64_t> step) {
  std::string sql =
      "SELECT step, element, run_id, run_id IN (SELECT run_id FROM async_queue) FROM pipeline_tasks "
      "WHERE pipeline_run = ?";
  if (step) sql += " AND step = ?";
  sql += " ORDER BY step, element";
  SqliteStmt s(db_, sql.c_str());
  s.Bind(1, id);
  if (step) s.Bind(2, *step);
  std::vector<PipelineTask> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    PipelineTask t;
    t.step = s.Int(0);
    t.element = s.Int(1);
    t.run.id = s.Text(2);
    t.pending = s.Int(3) != 0;
    out.push_back(std::move(t));
  }
  std::string where = "id IN (SELECT run_id FROM pipeline_tasks WHERE pipeline_run = ?";
  std::vector<std::string> args = {id};
  if (step) {
    where += " AND step = ?";
    args.push_back(std::to_string(*step));
  }
  KILN_ASSIGN_OR_RETURN(auto records, QueryRuns(where + ")", args, static_cast<int>(out.size()) + 1,
                                                /*with_logs=*/false));
  std::map<std::string, RunRecord> by_id;
  for (RunRecord& r : records) by_id[r.id] = std::move(r);
  for (PipelineTask& t : out) {
    if (auto it = by_id.find(t.run.id); it != by_id.end()) t.run = std::move(it->second);
  }
  return out;
}

Result<int64_t> SqliteStore::CountPendingTasks(const std::string& id, int64_t step) {
  SqliteStmt s(db_,
               "SELECT COUNT(*) FROM pipeline_tasks t JOIN async_queue q ON q.run_id = t.run_id "
               "WHERE t.pipeline_run = ? AND t.step = ?");
  s.Bind(1, id).Bind(2, step);
  KILN_RETURN_IF_ERROR(s.Step().status());
  return s.Int(0);
}

}  // namespace kiln
