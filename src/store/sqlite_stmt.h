// A prepared statement, taken from its connection's cache (sqlite_db.h) and given back
// reset when it goes, with typed bind and column helpers.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/sqlite_db.h"

namespace kiln {

class SqliteStmt {
 public:
  SqliteStmt(SqliteDb& db, const char* sql) : db_(db.get()) { stmt_ = db.Take(sql, &rc_, &home_); }
  ~SqliteStmt() { SqliteDb::Give(stmt_, home_); }
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  Status prepared() const {
    return rc_ == SQLITE_OK ? OkStatus() : Internal(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  }
  SqliteStmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqliteStmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  SqliteStmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  SqliteStmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqliteStmt& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  template <typename T>
  SqliteStmt& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : BindNull(i);
  }

  // SQLITE_ROW -> true, SQLITE_DONE -> false, else an error.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT) return Status(Code::kConflict, sqlite3_errmsg(db_));
    return Internal(std::string("sqlite step: ") + sqlite3_errmsg(db_));
  }
  Status Run() {
    auto r = Step();
    return r.ok() ? OkStatus() : r.status();
  }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  // The column's text, valid until the next Step() or Reset(): no copy.
  std::string_view View(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string_view();
  }
  std::string Text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  std::string Blob(int col) const {
    auto p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
  std::vector<sqlite3_stmt*>* home_ = nullptr;  // where it goes back to; null: finalized
};

}  // namespace kiln
