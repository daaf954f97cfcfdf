// SqliteStore's AuditLog: the audit_log table (migration 7 of sqlite_store.cc).
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "store/sqlite_stmt.h"
#include "store/sqlite_store.h"

namespace kiln {

void to_json(nlohmann::json& j, const AuditEntry& e) {
  j = {{"seq", e.seq},
       {"at", FormatRfc3339(e.at)},
       {"key_id", e.key_id},
       {"role", e.role == ControlRole::kNone ? nlohmann::json(nullptr) : nlohmann::json(ControlRoleName(e.role))},
       {"source", e.source},
       {"method", e.method},
       {"path", e.path},
       {"status", e.status},
       {"target", e.target}};
}

Status SqliteStore::AppendAudit(const AuditEntry& e) {
  SqliteStmt s(db_,
               "INSERT INTO audit_log (at, key_id, role, source, method, path, status, target) "
               "VALUES (?,?,?,?,?,?,?,?)");
  s.Bind(1, e.at).Bind(2, e.key_id).Bind(3, std::string(ControlRoleName(e.role))).Bind(4, e.source);
  s.Bind(5, e.method).Bind(6, e.path).Bind(7, int64_t{e.status}).Bind(8, e.target);
  return s.Run();
}

Result<std::vector<AuditEntry>> SqliteStore::ListAudit(int64_t since, int limit) {
  SqliteStmt s(db_,
               "SELECT seq, at, key_id, role, source, method, path, status, target FROM "
               "(SELECT * FROM audit_log WHERE at >= ? ORDER BY seq DESC LIMIT ?) ORDER BY seq");
  s.Bind(1, since).Bind(2, int64_t{limit});
  std::vector<AuditEntry> out;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({.seq = s.Int(0),
                   .at = s.Int(1),
                   .key_id = s.Text(2),
                   .role = ParseControlRole(s.Text(3)).value_or(ControlRole::kNone),
                   .source = s.Text(4),
                   .method = s.Text(5),
                   .path = s.Text(6),
                   .status = static_cast<int>(s.Int(7)),
                   .target = s.Text(8)});
  }
  return out;
}

Result<int64_t> SqliteStore::PurgeAudit(int64_t before, int limit) {
  SqliteStmt s(db_, "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE at < ? LIMIT ?)");
  s.Bind(1, before).Bind(2, int64_t{limit});
  KILN_RETURN_IF_ERROR(s.Run());
  return static_cast<int64_t>(sqlite3_changes(db_));
}

}  // namespace kiln
