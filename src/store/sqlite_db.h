// DESIGN: one SQLite connection and the statements prepared on it, kept for the
// connection's life. SqliteStmt takes a statement for its SQL text from here (prepared
// the first time that text is seen) and gives it back reset when it goes, so a query
// the daemon runs on every request is parsed once: before, sqlite3_prepare_v2 was 41 %
// of the daemon's instructions per warm request (bench/warm_instructions.py).
//
// Two statements of the same text may be in use at once (a query inside another's
// loop): each takes its own, and both come back. The cache holds at most
// kMaxCachedTexts texts; a text past that (queries built with a varying WHERE) is
// prepared and finalized each time, as before.
//
// Threads: none of its own; a connection and its statements belong to one thread at a
// time, as SQLite's NOMUTEX connections require.
#pragma once

#include <sqlite3.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace kiln {

class SqliteDb {
 public:
  static constexpr size_t kMaxCachedTexts = 256;

  // Owns `db` (closed, with every statement kept, on destruction).
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* get() const { return db_; }
  operator sqlite3*() const { return db_; }  // for the sqlite3_* calls on the connection

  // A statement of `sql`, ready to bind: a kept one, else newly prepared (`*rc` is
  // sqlite3_prepare_v2's code). `*home` is where Give puts it back, or null when it is
  // not to be kept.
  sqlite3_stmt* Take(const char* sql, int* rc, std::vector<sqlite3_stmt*>** home);
  // Resets it, clears its bindings and keeps it for the next Take of its text.
  static void Give(sqlite3_stmt* stmt, std::vector<sqlite3_stmt*>* home);

 private:
  sqlite3* db_;
  // Idle statements by SQL text. Entries are never erased, so the address of a vector
  // stays valid while statements are out.
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
};

}  // namespace kiln
