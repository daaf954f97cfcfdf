// DESIGN: the audit log (SPEC §1): one entry per control-plane change, who (key id,
// role, source address), what (method, path, a short target such as a function or
// key id) and how it ended (the HTTP status), never a body. An interface of its own
// beside Store, with an SQLite implementation on the same database; like Store, an
// instance is used by one thread at a time. Entries are only appended, never edited.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/records.h"

namespace kiln {

struct AuditEntry {
  int64_t seq = 0;  // assigned by the log
  int64_t at = 0;   // epoch ms
  std::string key_id;
  ControlRole role = ControlRole::kNone;
  std::string source;  // the caller's address
  std::string method;
  std::string path;  // without the query
  int status = 0;
  std::string target;  // what was changed: a name or id, when the request says it
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  virtual Status AppendAudit(const AuditEntry& e) = 0;
  // The newest `limit` entries made at or after `since` (epoch ms), oldest first.
  virtual Result<std::vector<AuditEntry>> ListAudit(int64_t since, int limit) = 0;
  // Deletes up to `limit` entries made before `before`; returns how many.
  virtual Result<int64_t> PurgeAudit(int64_t before, int limit) = 0;
};

void to_json(nlohmann::json& j, const AuditEntry& e);

}  // namespace kiln
