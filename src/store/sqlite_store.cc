#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "store/sqlite_stmt.h"

namespace kiln {
namespace {

// Append-only: a released migration is never edited, only followed by a new one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE function_versions (
  function TEXT NOT NULL, version INTEGER NOT NULL, blob TEXT NOT NULL, handler TEXT NOT NULL,
  runtime TEXT NOT NULL, layers TEXT NOT NULL, memory_mb INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL, env TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (function, version));
CREATE TABLE routes (
  id INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT NOT NULL, path TEXT NOT NULL,
  function TEXT NOT NULL, version INTEGER, auth TEXT NOT NULL, mode TEXT NOT NULL,
  created_at INTEGER NOT NULL, UNIQUE (method, path));
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_sha256 TEXT NOT NULL, routes TEXT NOT NULL,
  functions TEXT NOT NULL, admin INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE layer_versions (
  name TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL, requirements TEXT NOT NULL,
  packages TEXT NOT NULL, size_bytes INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, function TEXT NOT NULL,
  version INTEGER NOT NULL, trigger TEXT NOT NULL, route TEXT NOT NULL,
  started_at INTEGER NOT NULL, duration_ms REAL NOT NULL, init_ms REAL, cold INTEGER NOT NULL,
  container_id TEXT NOT NULL, status TEXT NOT NULL, http_status INTEGER NOT NULL,
  request_bytes INTEGER NOT NULL, response_bytes INTEGER NOT NULL, result TEXT NOT NULL,
  truncated INTEGER NOT NULL, error_type TEXT NOT NULL, error_message TEXT NOT NULL,
  logs TEXT NOT NULL, max_memory_mb REAL NOT NULL, attempt INTEGER NOT NULL);
CREATE INDEX runs_by_function ON runs (function, seq);
)sql",
    R"sql(
ALTER TABLE function_versions ADD COLUMN pool TEXT NOT NULL DEFAULT '{}';
ALTER TABLE function_versions ADD COLUMN state TEXT NOT NULL DEFAULT 'ready';
ALTER TABLE function_versions ADD COLUMN state_message TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN queue_ms REAL NOT NULL DEFAULT 0;
CREATE TABLE containers (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, function TEXT NOT NULL,
  version INTEGER NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER,
  init_ms REAL, invocations INTEGER NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX containers_by_end ON containers (ended_at);
)sql",
    R"sql(
ALTER TABLE layer_versions ADD COLUMN source TEXT NOT NULL DEFAULT 'build';
ALTER TABLE layer_versions ADD COLUMN manifest TEXT NOT NULL DEFAULT '{}';
)sql",
    R"sql(
ALTER TABLE function_versions ADD COLUMN start TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN start TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN start_note TEXT NOT NULL DEFAULT '';
ALTER TABLE containers ADD COLUMN start TEXT NOT NULL DEFAULT '';
)sql",
    R"sql(
ALTER TABLE function_versions ADD COLUMN async TEXT NOT NULL DEFAULT '{}';
CREATE TABLE async_queue (
  run_id TEXT PRIMARY KEY, function TEXT NOT NULL, version INTEGER NOT NULL, event TEXT NOT NULL,
  route TEXT NOT NULL, enqueued_at INTEGER NOT NULL, available_at INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0, lease_owner TEXT NOT NULL DEFAULT '', lease_until INTEGER NOT NULL DEFAULT 0);
CREATE INDEX async_queue_ready ON async_queue (available_at);
CREATE INDEX async_queue_by_function ON async_queue (function);
CREATE TABLE idempotency_keys (
  function TEXT NOT NULL, key TEXT NOT NULL, run_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (function, key));
)sql",
    R"sql(
ALTER TABLE async_queue ADD COLUMN pipeline_run TEXT NOT NULL DEFAULT '';
ALTER TABLE async_queue ADD COLUMN budget_ms INTEGER NOT NULL DEFAULT 0;
CREATE TABLE pipelines (
  name TEXT PRIMARY KEY, steps TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE pipeline_runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, pipeline TEXT NOT NULL,
  steps TEXT NOT NULL, status TEXT NOT NULL, current_step INTEGER NOT NULL, started_at INTEGER NOT NULL,
  ended_at INTEGER, failed_step INTEGER, error_type TEXT NOT NULL, error_message TEXT NOT NULL,
  result TEXT NOT NULL, input_bytes INTEGER NOT NULL);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, seq);
CREATE INDEX pipeline_runs_by_status ON pipeline_runs (status);
CREATE TABLE pipeline_tasks (
  pipeline_run TEXT NOT NULL, step INTEGER NOT NULL, element INTEGER NOT NULL, run_id TEXT NOT NULL UNIQUE,
  PRIMARY KEY (pipeline_run, step, element));
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX pipeline_runs_by_end ON pipeline_runs (ended_at);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
)sql",
    R"sql(
ALTER TABLE routes ADD COLUMN errors TEXT NOT NULL DEFAULT 'detailed';
UPDATE routes SET errors = 'generic' WHERE auth = 'none';
)sql",
    // Keys with roles, expiry, rotation and last use (keys made before: legacy, no
    // checksum); the audit log of control-plane changes.
    R"sql(
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT '';
UPDATE api_keys SET role = 'admin' WHERE admin = 1;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN previous_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN previous_valid_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN legacy INTEGER NOT NULL DEFAULT 1;
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, key_id TEXT NOT NULL, role TEXT NOT NULL,
  source TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL, target TEXT NOT NULL);
CREATE INDEX audit_log_by_time ON audit_log (at);
)sql",
    // 8: function lifecycle (issue #15): the serving version and the version numbering
    // apart from the versions, throttle records that stand for several requests, keys
    // that may read /metrics, and the index the stats API reads alone.
    R"sql(
CREATE TABLE functions (name TEXT PRIMARY KEY, serving INTEGER, last_version INTEGER NOT NULL);
INSERT INTO functions (name, serving, last_version)
  SELECT function, MAX(CASE WHEN state = 'ready' THEN version END), MAX(version)
  FROM function_versions GROUP BY function;
ALTER TABLE runs ADD COLUMN stands_for INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN metrics INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_for_stats ON runs
  (function, started_at, trigger, status, cold, duration_ms, init_ms, start, stands_for);
)sql",
    // 9: a cold start's fork and sandbox phases (issue #15).
    R"sql(
ALTER TABLE runs ADD COLUMN fork_ms REAL;
ALTER TABLE runs ADD COLUMN sandbox_ms REAL;
)sql",
};

std::string ToJsonText(const nlohmann::json& j) { return j.dump(); }

template <typename T>
T FromJsonText(const std::string& s) {
  return nlohmann::json::parse(s).get<T>();
}

FunctionVersion ReadVersion(const SqliteStmt& s) {
  FunctionVersion v;
  v.function = s.Text(0);
  v.version = s.Int(1);
  v.blob = s.Text(2);
  v.handler = s.Text(3);
  v.runtime = s.Text(4);
  for (const auto& l : nlohmann::json::parse(s.Text(5))) {
    v.layers.push_back({l.at("name").get<std::string>(), l.at("version").get<int64_t>()});
  }
  v.memory_mb = s.Int(6);
  v.timeout_ms = s.Int(7);
  v.env = FromJsonText<std::map<std::string, std::string>>(s.Text(8));
  v.created_at = s.Int(9);
  v.pool = FromJsonText<PoolOverrides>(s.Text(10));
  v.state = ParseVersionState(s.Text(11)).value_or(VersionState::kFailed);
  v.state_message = s.Text(12);
  v.start = FromJsonText<StartOptions>(s.Text(13));
  v.async = FromJsonText<AsyncOptions>(s.Text(14));
  return v;
}

constexpr const char* kVersionColumns =
    "function, version, blob, handler, runtime, layers, memory_mb, timeout_ms, env, created_at, "
    "pool, state, state_message, start, async";

constexpr const char* kRunColumns =
    "id, function, version, trigger, route, started_at, duration_ms, init_ms, cold, "
    "container_id, status, http_status, request_bytes, response_bytes, result, truncated, "
    "error_type, error_message, logs, max_memory_mb, attempt, queue_ms, start, start_note, stands_for, fork_ms, sandbox_ms";

constexpr const char* kContainerColumns =
    "id, function, version, pid, started_at, ended_at, init_ms, invocations, reason, detail, start";

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                   SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  if (rc != SQLITE_OK) {
    return Internal("sqlite open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
  }
  sqlite3_busy_timeout(db, 5000);
  KILN_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  // NORMAL in WAL mode: a commit survives a crash of the process; only a power loss
  // may take the last transactions.
  KILN_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=NORMAL"));
  KILN_RETURN_IF_ERROR(store->Exec("PRAGMA foreign_keys=ON"));
  // Reads through a mapping of the file, not a copy per page: a stats call walks about
  // 100,000 index rows, and the default page cache (2 MB) holds few of them.
  KILN_RETURN_IF_ERROR(store->Exec("PRAGMA mmap_size=268435456"));
  KILN_RETURN_IF_ERROR(store->Migrate());
  return store;
}

SqliteStore::~SqliteStore() = default;

Status SqliteStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = std::string("sqlite: ") + (err ? err : "error");
    sqlite3_free(err);
    return Internal(msg);
  }
  return OkStatus();
}

Status SqliteStore::Migrate() {
  return InTransaction([&]() -> Status {
    SqliteStmt q(db_, "PRAGMA user_version");
    KILN_ASSIGN_OR_RETURN(bool row, q.Step());
    const int64_t applied = row ? q.Int(0) : 0;
    const auto known = static_cast<int64_t>(std::size(kMigrations));
    if (applied > known) {
      // Written by a newer kiln: running on it would set its version back and the newer
      // kiln would apply its migrations twice.
      return Internal("the database's schema is version " + std::to_string(applied) +
                                ", newer than this kiln knows (" + std::to_string(known) + "): run a newer kiln");
    }
    for (int64_t i = applied; i < static_cast<int64_t>(std::size(kMigrations)); ++i) {
      KILN_RETURN_IF_ERROR(Exec(kMigrations[i]));
    }
    std::string set = "PRAGMA user_version=" + std::to_string(std::size(kMigrations));
    return Exec(set.c_str());
  });
}

Status SqliteStore::InTransaction(const std::function<Status()>& body) {
  KILN_RETURN_IF_ERROR(SqliteStmt(db_, "BEGIN IMMEDIATE").Run());
  if (Status st = body(); !st.ok()) {
    (void)SqliteStmt(db_, "ROLLBACK").Run();
    return st;
  }
  return SqliteStmt(db_, "COMMIT").Run();
}

Result<int64_t> SqliteStore::NextVersion(const char* table, const char* key_column,
                                         const std::string& key) {
  std::string sql = std::string("SELECT COALESCE(MAX(version), 0) + 1 FROM ") + table + " WHERE " +
                    key_column + " = ?";
  SqliteStmt next(db_, sql.c_str());
  next.Bind(1, key);
  KILN_ASSIGN_OR_RETURN(bool row, next.Step());
  KILN_CHECK(row);  // an aggregate always yields a row
  return next.Int(0);
}

Result<FunctionVersion> SqliteStore::CreateVersion(FunctionVersion v) {
  Status st = InTransaction([&]() -> Status {
    // Numbered past every version the function ever had, removed ones too.
    SqliteStmt next(db_, "SELECT COALESCE((SELECT last_version FROM functions WHERE name = ?), 0) + 1");
    next.Bind(1, v.function);
    KILN_ASSIGN_OR_RETURN(bool row, next.Step());
    KILN_CHECK(row);  // a scalar query always yields a row
    v.version = next.Int(0);
    v.created_at = NowEpochMs();
    SqliteStmt head(db_,
                    "INSERT INTO functions (name, serving, last_version) VALUES (?, ?, ?) ON CONFLICT(name) DO "
                    "UPDATE SET last_version = excluded.last_version, serving = COALESCE(excluded.serving, serving)");
    head.Bind(1, v.function).Bind(3, v.version);
    if (v.state == VersionState::kReady) head.Bind(2, v.version);  // created ready: serves at once
    KILN_RETURN_IF_ERROR(head.Run());
    std::string sql = std::string("INSERT INTO function_versions (") + kVersionColumns +
                      ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    SqliteStmt ins(db_, sql.c_str());
    ins.Bind(1, v.function).Bind(2, v.version).Bind(3, v.blob).Bind(4, v.handler).Bind(5, v.runtime);
    ins.Bind(6, ToJsonText(v.layers)).Bind(7, v.memory_mb).Bind(8, v.timeout_ms);
    ins.Bind(9, ToJsonText(v.env)).Bind(10, v.created_at).Bind(11, ToJsonText(v.pool));
    ins.Bind(12, std::string(VersionStateName(v.state))).Bind(13, v.state_message);
    ins.Bind(14, ToJsonText(v.start)).Bind(15, ToJsonText(v.async));
    return ins.Run();
  });
  if (!st.ok()) return st;
  return v;
}

Status SqliteStore::SetVersionState(const std::string& function, int64_t version,
                                    VersionState state, const std::string& message) {
  SqliteStmt s(db_,
               "UPDATE function_versions SET state = ?, state_message = ? "
               "WHERE function = ? AND version = ?");
  s.Bind(1, std::string(VersionStateName(state))).Bind(2, message).Bind(3, function).Bind(4, version);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no function " + function + ":" + std::to_string(version));
  return OkStatus();
}

Result<int64_t> SqliteStore::FailInterruptedDeploys(const std::string& message) {
  SqliteStmt s(db_,
               "UPDATE function_versions SET state = 'failed', state_message = ? "
               "WHERE state = 'starting'");
  s.Bind(1, message);
  KILN_RETURN_IF_ERROR(s.Run());
  return static_cast<int64_t>(sqlite3_changes(db_));
}

Result<std::vector<FunctionVersion>> SqliteStore::QueryVersions(const char* sql,
                                                                 const std::string& arg) {
  SqliteStmt s(db_, sql);
  KILN_RETURN_IF_ERROR(s.prepared());
  if (!arg.empty()) s.Bind(1, arg);
  std::vector<FunctionVersion> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadVersion(s));
  }
  return out;
}

Result<std::vector<FunctionVersion>> SqliteStore::ListVersions(const std::string& function) {
  std::string sql = std::string("SELECT ") + kVersionColumns +
                    " FROM function_versions WHERE function = ? ORDER BY version";
  return QueryVersions(sql.c_str(), function);
}

Result<std::vector<FunctionVersion>> SqliteStore::ListLatestVersions() {
  std::string sql = std::string("SELECT ") + kVersionColumns +
                    " FROM function_versions f WHERE version = (SELECT MAX(version) FROM "
                    "function_versions g WHERE g.function = f.function) ORDER BY function";
  return QueryVersions(sql.c_str(), "");
}

Result<Route> SqliteStore::CreateRoute(Route r) {
  r.created_at = NowEpochMs();
  SqliteStmt s(db_,
               "INSERT INTO routes (method, path, function, version, auth, mode, created_at, errors) "
               "VALUES (?,?,?,?,?,?,?,?)");
  s.Bind(1, r.method).Bind(2, r.path).Bind(3, r.function).Bind(4, r.version);
  s.Bind(5, std::string(RouteAuthName(r.auth))).Bind(6, std::string(RouteModeName(r.mode)));
  s.Bind(7, r.created_at).Bind(8, std::string(RouteErrorsName(r.errors)));
  if (Status st = s.Run(); !st.ok()) {
    if (st.code() == Code::kConflict) {
      return Conflict("a route " + r.method + " " + r.path + " exists already");
    }
    return st;
  }
  r.id = sqlite3_last_insert_rowid(db_);
  return r;
}

Result<std::vector<Route>> SqliteStore::ListRoutes() {
  SqliteStmt s(db_,
               "SELECT id, method, path, function, version, auth, mode, created_at, errors FROM routes "
               "ORDER BY id");
  std::vector<Route> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    Route r;
    r.id = s.Int(0);
    r.method = s.Text(1);
    r.path = s.Text(2);
    r.function = s.Text(3);
    if (!s.IsNull(4)) r.version = s.Int(4);
    r.auth = s.Text(5) == "none" ? RouteAuth::kNone : RouteAuth::kKey;
    r.mode = s.Text(6) == "async" ? RouteMode::kAsync : RouteMode::kSync;
    r.created_at = s.Int(7);
    r.errors = s.Text(8) == "generic" ? RouteErrors::kGeneric : RouteErrors::kDetailed;
    out.push_back(std::move(r));
  }
  return out;
}

Status SqliteStore::DeleteRoute(int64_t id) {
  SqliteStmt s(db_, "DELETE FROM routes WHERE id = ?");
  s.Bind(1, id);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no route with id " + std::to_string(id));
  return OkStatus();
}

Status SqliteStore::CreateKey(const ApiKeyRecord& k) {
  SqliteStmt s(db_,
               "INSERT INTO api_keys (id, name, secret_sha256, routes, functions, admin, created_at, role, "
               "expires_at, previous_sha256, previous_valid_until, last_used_at, legacy, metrics) "
               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.Bind(1, k.id).Bind(2, k.name).Bind(3, k.secret_sha256).Bind(4, ToJsonText(k.routes));
  s.Bind(5, ToJsonText(k.functions)).Bind(6, int64_t{k.role == ControlRole::kAdmin}).Bind(7, k.created_at);
  s.Bind(8, std::string(ControlRoleName(k.role))).Bind(9, k.expires_at).Bind(10, k.previous_sha256);
  s.Bind(11, k.previous_valid_until).Bind(12, k.last_used_at).Bind(13, int64_t{k.legacy});
  s.Bind(14, int64_t{k.metrics});
  return s.Run();
}

Result<std::vector<ApiKeyRecord>> SqliteStore::ListKeys() {
  SqliteStmt s(db_,
               "SELECT id, name, secret_sha256, routes, functions, role, created_at, expires_at, "
               "previous_sha256, previous_valid_until, last_used_at, legacy, metrics FROM api_keys ORDER BY created_at, id");
  std::vector<ApiKeyRecord> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ApiKeyRecord k;
    k.id = s.Text(0);
    k.name = s.Text(1);
    k.secret_sha256 = s.Text(2);
    k.routes = FromJsonText<std::vector<std::string>>(s.Text(3));
    k.functions = FromJsonText<std::vector<std::string>>(s.Text(4));
    k.role = ParseControlRole(s.Text(5)).value_or(ControlRole::kNone);
    k.created_at = s.Int(6);
    if (!s.IsNull(7)) k.expires_at = s.Int(7);
    k.previous_sha256 = s.Text(8);
    k.previous_valid_until = s.Int(9);
    if (!s.IsNull(10)) k.last_used_at = s.Int(10);
    k.legacy = s.Int(11) != 0;
    k.metrics = s.Int(12) != 0;
    out.push_back(std::move(k));
  }
  return out;
}

Status SqliteStore::RotateKey(const std::string& id, const std::string& secret_sha256,
                              const std::string& previous_sha256, int64_t previous_valid_until) {
  SqliteStmt s(db_,
               "UPDATE api_keys SET secret_sha256 = ?, previous_sha256 = ?, previous_valid_until = ?, legacy = 0 "
               "WHERE id = ?");
  s.Bind(1, secret_sha256).Bind(2, previous_sha256).Bind(3, previous_valid_until).Bind(4, id);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no key with id " + id);
  return OkStatus();
}

Status SqliteStore::RecordKeyUse(const std::vector<std::pair<std::string, int64_t>>& last_used) {
  if (last_used.empty()) return OkStatus();
  return InTransaction([&]() -> Status {
    SqliteStmt s(db_, "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?");
    KILN_RETURN_IF_ERROR(s.prepared());
    for (const auto& [id, at] : last_used) {
      s.Bind(1, at).Bind(2, id);
      KILN_RETURN_IF_ERROR(s.Run());  // a key removed meanwhile changes nothing
      s.Reset();
    }
    return OkStatus();
  });
}

Status SqliteStore::DeleteKey(const std::string& id) {
  SqliteStmt s(db_, "DELETE FROM api_keys WHERE id = ?");
  s.Bind(1, id);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no key with id " + id);
  return OkStatus();
}

Result<LayerVersion> SqliteStore::CreateLayerVersion(LayerVersion l) {
  Status st = InTransaction([&]() -> Status {
    KILN_ASSIGN_OR_RETURN(l.version, NextVersion("layer_versions", "name", l.name));
    l.created_at = NowEpochMs();
    SqliteStmt ins(db_,
                   "INSERT INTO layer_versions (name, version, digest, requirements, packages, size_bytes, "
                   "created_at, source, manifest) VALUES (?,?,?,?,?,?,?,?,?)");
    ins.Bind(1, l.name).Bind(2, l.version).Bind(3, l.digest).Bind(4, l.requirements);
    ins.Bind(5, ToJsonText(l.packages)).Bind(6, l.size_bytes).Bind(7, l.created_at).Bind(8, l.source);
    ins.Bind(9, ToJsonText({{"distributions", l.distributions},
                            {"modules", l.modules},
                            {"preload", l.preload},
                            {"not_preloaded", l.not_preloaded}}));
    return ins.Run();
  });
  if (!st.ok()) return st;
  return l;
}

Status SqliteStore::DeleteLayerVersion(const std::string& name, int64_t version) {
  SqliteStmt s(db_, "DELETE FROM layer_versions WHERE name = ? AND version = ?");
  s.Bind(1, name).Bind(2, version);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no layer " + name + ":" + std::to_string(version));
  return OkStatus();
}

Result<std::vector<LayerVersion>> SqliteStore::ListLayerVersions(const std::string& name) {
  SqliteStmt s(db_,
               "SELECT name, version, digest, requirements, packages, size_bytes, created_at, source, "
               "manifest FROM layer_versions WHERE ? = '' OR name = ? ORDER BY name, version");
  s.Bind(1, name).Bind(2, name);
  std::vector<LayerVersion> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    LayerVersion l;
    l.name = s.Text(0);
    l.version = s.Int(1);
    l.digest = s.Text(2);
    l.requirements = s.Text(3);
    l.packages = FromJsonText<std::vector<std::string>>(s.Text(4));
    l.size_bytes = s.Int(5);
    l.created_at = s.Int(6);
    l.source = s.Text(7);
    auto manifest = nlohmann::json::parse(s.Text(8));
    l.distributions = manifest.value("distributions", std::vector<LayerDistribution>{});
    l.modules = manifest.value("modules", std::vector<std::string>{});
    l.preload = manifest.value("preload", std::vector<PreloadModule>{});
    l.not_preloaded = manifest.value("not_preloaded", std::vector<SkippedModule>{});
    out.push_back(std::move(l));
  }
  return out;
}

Status SqliteStore::UpsertRecords(const std::vector<RunRecord>& runs,
                                  const std::vector<ContainerRecord>& containers) {
  return InTransaction([&]() -> Status {
    KILN_RETURN_IF_ERROR(UpsertRunsInTransaction(runs));
    return UpsertContainersInTransaction(containers);
  });
}

Status SqliteStore::UpsertRunsInTransaction(const std::vector<RunRecord>& runs) {
  // An update keeps the row's seq, so a run keeps its place in the listing.
  std::string sql = std::string("INSERT INTO runs (") + kRunColumns +
                    ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                    "duration_ms=excluded.duration_ms, init_ms=excluded.init_ms, cold=excluded.cold, "
                    "container_id=excluded.container_id, status=excluded.status, "
                    "http_status=excluded.http_status, response_bytes=excluded.response_bytes, "
                    "result=excluded.result, truncated=excluded.truncated, "
                    "error_type=excluded.error_type, error_message=excluded.error_message, "
                    "logs=excluded.logs, max_memory_mb=excluded.max_memory_mb, attempt=excluded.attempt, "
                    "queue_ms=excluded.queue_ms, start=excluded.start, start_note=excluded.start_note, "
                    "stands_for=excluded.stands_for, fork_ms=excluded.fork_ms, sandbox_ms=excluded.sandbox_ms";
  SqliteStmt s(db_, sql.c_str());
  for (const RunRecord& r : runs) {
    s.Bind(1, r.id).Bind(2, r.function).Bind(3, r.version).Bind(4, r.trigger).Bind(5, r.route);
    s.Bind(6, r.started_at).Bind(7, r.duration_ms).Bind(8, r.init_ms).Bind(9, int64_t{r.cold});
    s.Bind(10, r.container_id).Bind(11, std::string(RunStatusName(r.status)));
    s.Bind(12, int64_t{r.http_status}).Bind(13, r.request_bytes).Bind(14, r.response_bytes);
    s.Bind(15, r.result).Bind(16, int64_t{r.truncated}).Bind(17, r.error_type);
    s.Bind(18, r.error_message).Bind(19, r.logs).Bind(20, r.max_memory_mb);
    s.Bind(21, int64_t{r.attempt}).Bind(22, r.queue_ms).Bind(23, r.start).Bind(24, r.start_note);
    s.Bind(25, r.stands_for).Bind(26, r.fork_ms).Bind(27, r.sandbox_ms);
    KILN_RETURN_IF_ERROR(s.Run());
    s.Reset();
  }
  return OkStatus();
}

Result<int64_t> SqliteStore::CloseInterruptedRuns(const std::string& message) {
  SqliteStmt s(db_,
               "UPDATE runs SET status = 'crashed', http_status = 502, "
               "error_type = 'Runtime.DaemonStopped', error_message = ? WHERE status = 'running' "
               "AND id NOT IN (SELECT run_id FROM async_queue)");
  s.Bind(1, message);
  KILN_RETURN_IF_ERROR(s.Run());
  return static_cast<int64_t>(sqlite3_changes(db_));
}

Status SqliteStore::UpsertContainersInTransaction(const std::vector<ContainerRecord>& containers) {
  std::string sql = std::string("INSERT INTO containers (") + kContainerColumns +
                    ") VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                    "ended_at=excluded.ended_at, init_ms=excluded.init_ms, "
                    "invocations=excluded.invocations, reason=excluded.reason, detail=excluded.detail";
  SqliteStmt s(db_, sql.c_str());
  for (const ContainerRecord& c : containers) {
    s.Bind(1, c.id).Bind(2, c.function).Bind(3, c.version).Bind(4, c.pid).Bind(5, c.started_at);
    s.Bind(6, c.ended_at).Bind(7, c.init_ms).Bind(8, c.invocations).Bind(9, c.reason);
    s.Bind(10, c.detail).Bind(11, c.start);
    KILN_RETURN_IF_ERROR(s.Run());
    s.Reset();
  }
  return OkStatus();
}

Result<int64_t> SqliteStore::CloseInterruptedContainers(const std::string& reason) {
  SqliteStmt s(db_, "UPDATE containers SET ended_at = ?, reason = ? WHERE ended_at IS NULL");
  s.Bind(1, NowEpochMs()).Bind(2, reason);
  KILN_RETURN_IF_ERROR(s.Run());
  return static_cast<int64_t>(sqlite3_changes(db_));
}

Result<std::vector<ContainerRecord>> SqliteStore::ListEndedContainers(int limit) {
  std::string sql = std::string("SELECT ") + kContainerColumns +
                    " FROM containers WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, seq DESC LIMIT ?";
  SqliteStmt s(db_, sql.c_str());
  s.Bind(1, int64_t{limit});
  std::vector<ContainerRecord> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ContainerRecord c;
    c.id = s.Text(0);
    c.function = s.Text(1);
    c.version = s.Int(2);
    c.pid = s.Int(3);
    c.started_at = s.Int(4);
    if (!s.IsNull(5)) c.ended_at = s.Int(5);
    if (!s.IsNull(6)) c.init_ms = s.Double(6);
    c.invocations = s.Int(7);
    c.reason = s.Text(8);
    c.detail = s.Text(9);
    c.start = s.Text(10);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<RunRecord>> SqliteStore::QueryRuns(const std::string& where,
                                                      const std::vector<std::string>& args,
                                                      int limit, bool with_logs) {
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs" +
                    (where.empty() ? "" : " WHERE " + where) + " ORDER BY seq DESC LIMIT ?";
  SqliteStmt s(db_, sql.c_str());
  KILN_RETURN_IF_ERROR(s.prepared());
  int i = 1;
  for (const auto& a : args) s.Bind(i++, a);
  s.Bind(i, int64_t{limit});
  std::vector<RunRecord> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    RunRecord r;
    r.id = s.Text(0);
    r.function = s.Text(1);
    r.version = s.Int(2);
    r.trigger = s.Text(3);
    r.route = s.Text(4);
    r.started_at = s.Int(5);
    r.duration_ms = s.Double(6);
    if (!s.IsNull(7)) r.init_ms = s.Double(7);
    r.cold = s.Int(8) != 0;
    r.container_id = s.Text(9);
    r.status = ParseRunStatus(s.Text(10)).value_or(RunStatus::kError);
    r.http_status = static_cast<int>(s.Int(11));
    r.request_bytes = s.Int(12);
    r.response_bytes = s.Int(13);
    r.result = s.Text(14);
    r.truncated = s.Int(15) != 0;
    r.error_type = s.Text(16);
    r.error_message = s.Text(17);
    if (with_logs) r.logs = s.Text(18);
    r.max_memory_mb = s.Double(19);
    r.attempt = static_cast<int>(s.Int(20));
    r.queue_ms = s.Double(21);
    r.start = s.Text(22);
    r.start_note = s.Text(23);
    r.stands_for = s.Int(24);
    if (!s.IsNull(25)) r.fork_ms = s.Double(25);
    if (!s.IsNull(26)) r.sandbox_ms = s.Double(26);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<RunRecord>> SqliteStore::ListRuns(const RunFilter& filter) {
  std::string where;
  std::vector<std::string> args;
  auto add = [&](const std::string& clause, std::optional<std::string> arg) {
    where += (where.empty() ? "" : " AND ") + clause;
    if (arg) args.push_back(*arg);
  };
  if (!filter.function.empty()) add("function = ?", filter.function);
  if (filter.status) add("status = ?", std::string(RunStatusName(*filter.status)));
  if (filter.cold) add(*filter.cold ? "cold = 1" : "cold = 0", std::nullopt);
  if (filter.since_ms) add("started_at >= " + std::to_string(*filter.since_ms), std::nullopt);
  return QueryRuns(where, args, filter.limit, filter.with_logs);
}

Result<RunRecord> SqliteStore::GetRun(const std::string& id) {
  KILN_ASSIGN_OR_RETURN(auto runs, QueryRuns("id = ?", {id}, 1, /*with_logs=*/true));
  if (runs.empty()) return NotFound("no run with id " + id);
  return std::move(runs.front());
}

Result<Enqueued> SqliteStore::EnqueueRun(const RunRecord& run, const std::string& event,
                                        const std::string& idempotency_key, int64_t dedupe_since,
                                        int64_t max_queued) {
  Enqueued out{run.id, true};
  Status st = InTransaction([&]() -> Status {
    KILN_ASSIGN_OR_RETURN(auto seen, SeenKey(run.function, idempotency_key, dedupe_since));
    if (seen) {
      out = {*seen, false};
      return OkStatus();
    }
    KILN_RETURN_IF_ERROR(CheckQueueBound(run.function, 1, max_queued));
    KILN_RETURN_IF_ERROR(UpsertRunsInTransaction({run}));
    KILN_RETURN_IF_ERROR(InsertQueueRow(run, event, "", 0));
    return RememberKey(run.function, idempotency_key, run.id, run.started_at);
  });
  if (!st.ok()) return st;
  return out;
}

Result<std::optional<std::string>> SqliteStore::SeenKey(const std::string& scope, const std::string& key,
                                                        int64_t since) {
  if (key.empty()) return std::optional<std::string>();
  SqliteStmt seen(db_, "SELECT run_id FROM idempotency_keys WHERE function = ? AND key = ? AND created_at >= ?");
  seen.Bind(1, scope).Bind(2, key).Bind(3, since);
  KILN_ASSIGN_OR_RETURN(bool found, seen.Step());
  return found ? std::optional<std::string>(seen.Text(0)) : std::nullopt;
}

Status SqliteStore::RememberKey(const std::string& scope, const std::string& key, const std::string& run_id,
                                int64_t at) {
  if (key.empty()) return OkStatus();
  SqliteStmt remember(db_,
                      "INSERT INTO idempotency_keys (function, key, run_id, created_at) VALUES (?,?,?,?) "
                      "ON CONFLICT(function, key) DO UPDATE SET run_id = excluded.run_id, created_at = excluded.created_at");
  remember.Bind(1, scope).Bind(2, key).Bind(3, run_id).Bind(4, at);
  return remember.Run();
}

Status SqliteStore::CheckQueueBound(const std::string& function, int64_t adding, int64_t max_queued) {
  SqliteStmt count(db_, "SELECT COUNT(*) FROM async_queue WHERE function = ?");
  count.Bind(1, function);
  KILN_RETURN_IF_ERROR(count.Step().status());
  if (count.Int(0) + adding > max_queued) {
    return Status(Code::kResourceExhausted, std::to_string(count.Int(0)) + " async runs of " + function +
                                                " are queued; " + std::to_string(adding) + " more would pass its bound (max_queued " +
                                                std::to_string(max_queued) + ")");
  }
  return OkStatus();
}

Status SqliteStore::InsertQueueRow(const RunRecord& run, const std::string& event, const std::string& pipeline_run,
                                   int64_t budget_ms) {
  SqliteStmt ins(db_,
                 "INSERT INTO async_queue (run_id, function, version, event, route, enqueued_at, available_at, "
                 "pipeline_run, budget_ms) VALUES (?,?,?,?,?,?,?,?,?)");
  ins.Bind(1, run.id).Bind(2, run.function).Bind(3, run.version).Bind(4, event).Bind(5, run.route);
  ins.Bind(6, run.started_at).Bind(7, run.started_at).Bind(8, pipeline_run).Bind(9, budget_ms);
  return ins.Run();
}

Result<std::vector<QueuedRun>> SqliteStore::LeaseRuns(const std::string& owner, int64_t now, int64_t lease_until,
                                                      int limit) {
  std::vector<QueuedRun> out;
  Status st = InTransaction([&]() -> Status {
    SqliteStmt pick(db_,
                    "SELECT run_id, function, version, event, route, enqueued_at, attempt, pipeline_run, budget_ms "
                    "FROM async_queue WHERE available_at <= ? AND (lease_owner = '' OR lease_until < ?) "
                    "ORDER BY available_at, enqueued_at LIMIT ?");
    pick.Bind(1, now).Bind(2, now).Bind(3, int64_t{limit});
    for (;;) {
      KILN_ASSIGN_OR_RETURN(bool row, pick.Step());
      if (!row) break;
      out.push_back({pick.Text(0), pick.Text(1), pick.Int(2), pick.Text(3), pick.Text(4), pick.Int(5),
                     static_cast<int>(pick.Int(6)), pick.Text(7), pick.Int(8)});
    }
    SqliteStmt lease(db_, "UPDATE async_queue SET lease_owner = ?, lease_until = ? WHERE run_id = ?");
    for (const QueuedRun& q : out) {
      lease.Bind(1, owner).Bind(2, lease_until).Bind(3, q.run_id);
      KILN_RETURN_IF_ERROR(lease.Run());
      lease.Reset();
    }
    return OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

Status SqliteStore::RenewLeases(const std::string& owner, const std::vector<std::string>& run_ids,
                                int64_t lease_until) {
  return InTransaction([&]() -> Status {
    SqliteStmt renew(db_, "UPDATE async_queue SET lease_until = ? WHERE run_id = ? AND lease_owner = ?");
    for (const std::string& id : run_ids) {
      renew.Bind(1, lease_until).Bind(2, id).Bind(3, owner);
      KILN_RETURN_IF_ERROR(renew.Run());
      renew.Reset();
    }
    return OkStatus();
  });
}

Status SqliteStore::StartAttempt(const std::string& run_id, int attempt) {
  SqliteStmt s(db_, "UPDATE async_queue SET attempt = ? WHERE run_id = ?");
  s.Bind(1, int64_t{attempt}).Bind(2, run_id);
  return s.Run();
}

Status SqliteStore::RequeueRun(const std::string& run_id, int64_t available_at) {
  SqliteStmt s(db_, "UPDATE async_queue SET available_at = ?, lease_owner = '', lease_until = 0 WHERE run_id = ?");
  s.Bind(1, available_at).Bind(2, run_id);
  return s.Run();
}

Status SqliteStore::MakeReady(const std::vector<std::string>& run_ids, int64_t now) {
  return InTransaction([&]() -> Status {
    SqliteStmt ready(db_, "UPDATE async_queue SET available_at = ? WHERE run_id = ? AND lease_owner = ''");
    for (const std::string& id : run_ids) {
      ready.Bind(1, now).Bind(2, id);
      KILN_RETURN_IF_ERROR(ready.Run());
      ready.Reset();
    }
    return OkStatus();
  });
}

Status SqliteStore::DeleteQueuedRun(const std::string& run_id) {
  SqliteStmt s(db_, "DELETE FROM async_queue WHERE run_id = ?");
  s.Bind(1, run_id);
  return s.Run();
}

Result<std::pair<int64_t, std::optional<int64_t>>> SqliteStore::QueueDepth() {
  SqliteStmt s(db_, "SELECT COUNT(*), MIN(enqueued_at) FROM async_queue");
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  KILN_CHECK(row);  // an aggregate always yields a row
  return std::make_pair(s.Int(0), s.IsNull(1) ? std::optional<int64_t>() : std::optional(s.Int(1)));
}

Result<int64_t> SqliteStore::ReleaseLeases() {
  int64_t released = 0;
  Status st = InTransaction([&]() -> Status {
    KILN_RETURN_IF_ERROR(Exec("UPDATE runs SET status = 'queued' WHERE status = 'running' AND id IN "
                              "(SELECT run_id FROM async_queue)"));
    KILN_RETURN_IF_ERROR(Exec("UPDATE async_queue SET lease_owner = '', lease_until = 0 WHERE lease_owner != ''"));
    released = sqlite3_changes(db_);
    return OkStatus();
  });
  if (!st.ok()) return st;
  return released;
}

Result<int64_t> SqliteStore::PurgeOldRecords(int64_t before, int64_t keys_before, int limit) {
  int64_t deleted = 0;
  Status st = InTransaction([&]() -> Status {
    auto run = [&](const char* sql, int64_t cutoff) -> Status {
      SqliteStmt s(db_, sql);
      KILN_RETURN_IF_ERROR(s.prepared());
      s.Bind(1, cutoff).Bind(2, int64_t{limit});
      KILN_RETURN_IF_ERROR(s.Run());
      deleted += sqlite3_changes(db_);
      return OkStatus();
    };
    KILN_RETURN_IF_ERROR(run(
        "DELETE FROM runs WHERE seq IN (SELECT seq FROM runs WHERE started_at < ? "
        "AND status NOT IN ('queued', 'running') AND id NOT IN (SELECT run_id FROM async_queue) "
        "AND id NOT IN (SELECT t.run_id FROM pipeline_tasks t JOIN pipeline_runs p ON p.id = t.pipeline_run "
        "WHERE p.status = 'running') LIMIT ?)",
        before));
    KILN_RETURN_IF_ERROR(run(
        "DELETE FROM containers WHERE seq IN (SELECT seq FROM containers WHERE ended_at < ? LIMIT ?)", before));
    // Links first, while their pipeline runs are still there to be found.
    KILN_RETURN_IF_ERROR(run(
        "DELETE FROM pipeline_tasks WHERE pipeline_run IN (SELECT id FROM pipeline_runs WHERE ended_at < ? LIMIT ?)",
        before));
    KILN_RETURN_IF_ERROR(run(
        "DELETE FROM pipeline_runs WHERE seq IN (SELECT seq FROM pipeline_runs WHERE ended_at < ? LIMIT ?)",
        before));
    return run(
        "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE created_at < ? LIMIT ?)",
        keys_before);
  });
  if (!st.ok()) return st;
  return deleted;
}

}  // namespace kiln
