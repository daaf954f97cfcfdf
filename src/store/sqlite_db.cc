#include "store/sqlite_db.h"

namespace kiln {

SqliteDb::~SqliteDb() {
  for (auto& [sql, statements] : idle_) {
    for (sqlite3_stmt* s : statements) sqlite3_finalize(s);
  }
  sqlite3_close_v2(db_);
}

sqlite3_stmt* SqliteDb::Take(const char* sql, int* rc, std::vector<sqlite3_stmt*>** home) {
  auto it = idle_.find(sql);
  if (it == idle_.end() && idle_.size() < kMaxCachedTexts) it = idle_.emplace(sql, std::vector<sqlite3_stmt*>{}).first;
  *home = it == idle_.end() ? nullptr : &it->second;
  if (*home != nullptr && !(*home)->empty()) {
    sqlite3_stmt* kept = (*home)->back();
    (*home)->pop_back();
    *rc = SQLITE_OK;
    return kept;
  }
  sqlite3_stmt* made = nullptr;
  *rc = sqlite3_prepare_v2(db_, sql, -1, &made, nullptr);
  return made;
}

void SqliteDb::Give(sqlite3_stmt* stmt, std::vector<sqlite3_stmt*>* home) {
  if (stmt == nullptr) return;
  if (home == nullptr) {
    sqlite3_finalize(stmt);
    return;
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  home->push_back(stmt);
}

}  // namespace kiln
