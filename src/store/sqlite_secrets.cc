#include "store/sqlite_secrets.h"

#include <sqlite3.h>

#include "store/sqlite_stmt.h"

namespace kiln {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL, "
    "updated_at INTEGER NOT NULL)";

}  // namespace

Result<std::unique_ptr<SqliteSecrets>> SqliteSecrets::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  std::unique_ptr<SqliteSecrets> store(new SqliteSecrets(db));
  if (rc != SQLITE_OK) return Internal("sqlite open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = std::string("sqlite: ") + (err ? err : "error");
    sqlite3_free(err);
    return Internal(msg);
  }
  return store;
}

SqliteSecrets::~SqliteSecrets() = default;

Result<bool> SqliteSecrets::PutSecret(const SealedSecret& s) {
  SqliteStmt exists(db_, "SELECT 1 FROM secrets WHERE name = ?");
  exists.Bind(1, s.name);
  KILN_ASSIGN_OR_RETURN(bool found, exists.Step());
  SqliteStmt put(db_,
                 "INSERT INTO secrets (name, sealed, updated_at) VALUES (?, ?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at");
  put.Bind(1, s.name).BindBlob(2, s.sealed).Bind(3, s.updated_at);
  KILN_RETURN_IF_ERROR(put.Run());
  return !found;
}

Result<SealedSecret> SqliteSecrets::GetSecret(const std::string& name) {
  SqliteStmt s(db_, "SELECT sealed, updated_at FROM secrets WHERE name = ?");
  s.Bind(1, name);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("no secret " + name);
  return SealedSecret{name, s.Blob(0), s.Int(1)};
}

Result<std::vector<SealedSecret>> SqliteSecrets::ListSecrets() {
  SqliteStmt s(db_, "SELECT name, updated_at FROM secrets ORDER BY name");
  std::vector<SealedSecret> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back({s.Text(0), "", s.Int(1)});
  }
}

Status SqliteSecrets::DeleteSecret(const std::string& name) {
  SqliteStmt s(db_, "DELETE FROM secrets WHERE name = ?");
  s.Bind(1, name);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no secret " + name);
  return OkStatus();
}

}  // namespace kiln
