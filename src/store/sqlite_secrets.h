// The SQLite SecretStore: table `secrets` in kiln.db, on a connection of its own
// (opened on the I/O thread and used only there). Its schema is its own: created at
// open if missing, apart from the Store's numbered migrations.
#pragma once

#include "store/sqlite_db.h"

#include <memory>
#include <string>

#include "store/secret_store.h"

struct sqlite3;

namespace kiln {

class SqliteSecrets final : public SecretStore {
 public:
  static Result<std::unique_ptr<SqliteSecrets>> Open(const std::string& path);
  ~SqliteSecrets() override;

  Result<bool> PutSecret(const SealedSecret& s) override;
  Result<SealedSecret> GetSecret(const std::string& name) override;
  Result<std::vector<SealedSecret>> ListSecrets() override;
  Status DeleteSecret(const std::string& name) override;

 private:
  explicit SqliteSecrets(sqlite3* db) : db_(db) {}
  SqliteDb db_;
};

}  // namespace kiln
