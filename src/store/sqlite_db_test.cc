#include "store/sqlite_db.h"

#include <gtest/gtest.h>

#include <string>

#include "store/sqlite_stmt.h"

namespace kiln {
namespace {

SqliteDb OpenMemory() {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  return SqliteDb(db);
}

TEST(SqliteDb, AStatementIsPreparedOnceAndComesBackReset) {
  SqliteDb db = OpenMemory();
  ASSERT_TRUE(SqliteStmt(db, "CREATE TABLE t (v INTEGER)").Run().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(SqliteStmt(db, "INSERT INTO t (v) VALUES (?)").Bind(1, int64_t{i}).Run().ok());
  {
    SqliteStmt q(db, "SELECT COUNT(*) FROM t WHERE v >= ?");
    q.Bind(1, int64_t{1});
    ASSERT_TRUE(q.Step().value());
    EXPECT_EQ(q.Int(0), 2);
  }
  int prepared = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s)) ++prepared;
  SqliteStmt again(db, "SELECT COUNT(*) FROM t WHERE v >= ?");
  EXPECT_TRUE(again.Step().value());  // its binding was cleared: v >= NULL matches nothing
  EXPECT_EQ(again.Int(0), 0);
  int after = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s)) ++after;
  EXPECT_EQ(after, prepared);  // no new statement
}

TEST(SqliteDb, TwoStatementsOfOneTextMayBeOutAtOnce) {
  SqliteDb db = OpenMemory();
  ASSERT_TRUE(SqliteStmt(db, "CREATE TABLE t (v INTEGER)").Run().ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(SqliteStmt(db, "INSERT INTO t (v) VALUES (?)").Bind(1, int64_t{i}).Run().ok());
  SqliteStmt outer(db, "SELECT v FROM t ORDER BY v");
  int pairs = 0;
  while (outer.Step().value()) {
    SqliteStmt inner(db, "SELECT v FROM t ORDER BY v");
    while (inner.Step().value()) ++pairs;
  }
  EXPECT_EQ(pairs, 4);
}

TEST(SqliteDb, TextsPastTheCapArePreparedEachTime) {
  SqliteDb db = OpenMemory();
  for (size_t i = 0; i < SqliteDb::kMaxCachedTexts + 10; ++i) {
    const std::string sql = "SELECT " + std::to_string(i);
    SqliteStmt q(db, sql.c_str());
    ASSERT_TRUE(q.Step().value());
    EXPECT_EQ(q.Int(0), static_cast<int64_t>(i));
  }
  int kept = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s)) ++kept;
  EXPECT_EQ(kept, static_cast<int>(SqliteDb::kMaxCachedTexts));
}

TEST(SqliteDb, ABadStatementSaysWhy) {
  SqliteDb db = OpenMemory();
  SqliteStmt bad(db, "SELEC nothing");
  EXPECT_FALSE(bad.prepared().ok());
  SqliteStmt again(db, "SELEC nothing");  // nothing was kept for it
  EXPECT_FALSE(again.prepared().ok());
}

}  // namespace
}  // namespace kiln
