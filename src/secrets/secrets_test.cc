#include "secrets/secrets.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "store/sqlite_secrets.h"
#include "store/temp_db_for_test.h"

namespace kiln::secrets {
namespace {

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(Secrets, StoredSealedAndResolvedOnlyOnAsk) {
  TempDb db("secrets");
  auto store = SqliteSecrets::Open(db.path());
  ASSERT_TRUE(store.ok()) << store.status().message();
  Secrets secrets(store->get(), std::string(32, 'n'));
  EXPECT_TRUE(*secrets.Set("db", "plain-hunter2"));
  EXPECT_FALSE(*secrets.Set("db", "plain-hunter3"));  // replaced
  EXPECT_EQ(FileBytes(db.path()).find("plain-hunter"), std::string::npos);
  EXPECT_EQ(FileBytes(db.path() + "-wal").find("plain-hunter"), std::string::npos);

  auto listed = secrets.List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "db");
  EXPECT_TRUE((*listed)[0].sealed.empty());
  EXPECT_GT((*listed)[0].updated_at, 0);

  std::map<std::string, std::string> env = {{"DB_PASSWORD", "secret:db"}, {"PLAIN", "x"}};
  EXPECT_TRUE(secrets.CheckReferences(env).ok());
  auto resolved = secrets.Resolve(env);
  ASSERT_TRUE(resolved.ok()) << resolved.status().message();
  EXPECT_EQ(resolved->at("DB_PASSWORD"), "plain-hunter3");
  EXPECT_EQ(resolved->at("PLAIN"), "x");

  // Another node key opens nothing, and says so without the value.
  Secrets other(store->get(), std::string(32, 'o'));
  auto wrong = other.Resolve(env);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message().find("hunter"), std::string::npos);

  ASSERT_TRUE(secrets.Remove("db").ok());
  Status missing = secrets.CheckReferences(env);
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_NE(missing.message().find("DB_PASSWORD refers to secret db"), std::string::npos) << missing.message();
  EXPECT_FALSE(secrets.Resolve(env).ok());
  EXPECT_EQ(secrets.Remove("db").code(), Code::kNotFound);
}

TEST(Secrets, NamesAndValuesAreChecked) {
  TempDb db("secrets-names");
  auto store = SqliteSecrets::Open(db.path());
  ASSERT_TRUE(store.ok());
  Secrets secrets(store->get(), std::string(32, 'n'));
  EXPECT_FALSE(secrets.Set("bad name", "v").ok());
  EXPECT_FALSE(secrets.Set("", "v").ok());
  EXPECT_FALSE(secrets.Set("db", std::string("a\0b", 3)).ok());
  EXPECT_FALSE(secrets.Set("db", std::string(kMaxValueBytes + 1, 'v')).ok());
  EXPECT_TRUE(secrets.Set("db", std::string(kMaxValueBytes, 'v')).ok());
}

}  // namespace
}  // namespace kiln::secrets
