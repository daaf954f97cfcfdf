// SqliteStore's function lifecycle (issue #15, migration 8 of sqlite_store.cc): the
// `functions` table holds each function's serving version and the highest version
// number it ever had, so a function removed and deployed again goes on numbering
// (run records kept until retention never name two different versions alike). Also
// the reads behind the stats API: run samples by function and time, on an index that
// covers every column read.
#include <sqlite3.h>

#include "store/sqlite_stmt.h"
#include "store/sqlite_store.h"

namespace kiln {

Result<std::map<std::string, int64_t>> SqliteStore::ListServing() {
  SqliteStmt s(db_, "SELECT name, serving FROM functions WHERE serving IS NOT NULL");
  std::map<std::string, int64_t> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out[s.Text(0)] = s.Int(1);
  }
  return out;
}

Status SqliteStore::SetServingInTransaction(const std::string& function, int64_t version) {
  SqliteStmt s(db_, "UPDATE functions SET serving = ? WHERE name = ?");
  s.Bind(1, version).Bind(2, function);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no function " + function);
  return OkStatus();
}

Status SqliteStore::PublishVersion(const std::string& function, int64_t version) {
  return InTransaction([&]() -> Status {
    KILN_RETURN_IF_ERROR(SetVersionState(function, version, VersionState::kReady, ""));
    return SetServingInTransaction(function, version);
  });
}

Status SqliteStore::SetServing(const std::string& function, int64_t version) {
  return InTransaction([&]() -> Status {
    SqliteStmt ready(db_, "SELECT state FROM function_versions WHERE function = ? AND version = ?");
    ready.Bind(1, function).Bind(2, version);
    KILN_ASSIGN_OR_RETURN(bool row, ready.Step());
    if (!row) return NotFound("no function " + function + ":" + std::to_string(version));
    if (ready.Text(0) != "ready") return Conflict(function + ":" + std::to_string(version) + " is not ready");
    return SetServingInTransaction(function, version);
  });
}

Status SqliteStore::DeleteFunction(const std::string& function) {
  return InTransaction([&]() -> Status {
    SqliteStmt versions(db_, "DELETE FROM function_versions WHERE function = ?");
    versions.Bind(1, function);
    KILN_RETURN_IF_ERROR(versions.Run());
    if (sqlite3_changes(db_) == 0) return NotFound("no function " + function);
    SqliteStmt routes(db_, "DELETE FROM routes WHERE function = ?");
    routes.Bind(1, function);
    KILN_RETURN_IF_ERROR(routes.Run());
    SqliteStmt serving(db_, "UPDATE functions SET serving = NULL WHERE name = ?");  // the numbering stays
    serving.Bind(1, function);
    return serving.Run();
  });
}

Status SqliteStore::DeleteVersion(const std::string& function, int64_t version) {
  return InTransaction([&]() -> Status {
    SqliteStmt serving(db_, "SELECT 1 FROM functions WHERE name = ? AND serving = ?");
    serving.Bind(1, function).Bind(2, version);
    KILN_ASSIGN_OR_RETURN(bool served, serving.Step());
    if (served) return Conflict(function + ":" + std::to_string(version) + " is the serving version");
    SqliteStmt del(db_, "DELETE FROM function_versions WHERE function = ? AND version = ?");
    del.Bind(1, function).Bind(2, version);
    KILN_RETURN_IF_ERROR(del.Run());
    if (sqlite3_changes(db_) == 0) return NotFound("no function " + function + ":" + std::to_string(version));
    return OkStatus();
  });
}

Status SqliteStore::UpdateRoute(int64_t id, const std::string& function, std::optional<int64_t> version) {
  SqliteStmt s(db_, "UPDATE routes SET function = ?, version = ? WHERE id = ?");
  s.Bind(1, function).Bind(2, version).Bind(3, id);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no route with id " + std::to_string(id));
  return OkStatus();
}

Status SqliteStore::VisitRunSamples(const std::string& function, int64_t since_ms,
                                    const std::function<void(const RunSample&)>& visit) {
  // Reads only runs_for_stats (migration 8), never the table's rows; about 100,000 rows
  // in a stats call, so a row is read into one sample on the stack, with no string, and
  // a column only when the row needs it (a warm run's four). A deploy's pre-warm is
  // never a sample: it is neither an invocation nor a throttle.
  SqliteStmt s(db_,
               "SELECT started_at, status, cold, duration_ms, init_ms, start, stands_for FROM runs "
               "INDEXED BY runs_for_stats WHERE function = ? AND started_at >= ? AND trigger <> 'deploy'");
  s.Bind(1, function).Bind(2, since_ms);
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return OkStatus();
    RunSample r;
    r.started_at = s.Int(0);
    r.status = ParseRunStatus(s.View(1)).value_or(RunStatus::kError);
    r.cold = s.Int(2) != 0;
    r.duration_ms = s.Double(3);
    if (r.cold) {
      if (!s.IsNull(4)) r.init_ms = s.Double(4);
      r.start = ParseStartMode(s.View(5)).value_or(StartMode::kPlain);
    }
    if (r.status == RunStatus::kThrottled) r.stands_for = s.Int(6);
    visit(r);
  }
}

Result<std::optional<int64_t>> SqliteStore::LastRunStarted(const std::string& function) {
  SqliteStmt s(db_, "SELECT MAX(started_at) FROM runs INDEXED BY runs_for_stats WHERE function = ?");
  s.Bind(1, function);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row || s.IsNull(0)) return std::optional<int64_t>();
  return std::optional(s.Int(0));
}

Result<std::vector<std::string>> SqliteStore::FindRunIds(const std::string& prefix, int limit) {
  // Run ids are lower-case hex and dashes: a prefix of those is a range of the unique index.
  SqliteStmt s(db_, "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?");
  s.Bind(1, prefix).Bind(2, prefix + "\x7f").Bind(3, int64_t{limit});
  std::vector<std::string> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(s.Text(0));
  }
  return out;
}

}  // namespace kiln
