#include "auth/api_key.h"

#include <gtest/gtest.h>

namespace kiln::auth {
namespace {

TEST(ApiKey, GeneratedKeyHasTheDocumentedShape) {
  NewKey k = GenerateKey("client", {"/predict"}, {}, false, 1);
  ASSERT_EQ(k.plaintext.rfind("kiln_", 0), 0u);
  auto parts = ParseKey(k.plaintext);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->id, k.record.id);
  EXPECT_EQ(parts->id.size(), 8u);
  EXPECT_TRUE(SecretMatches(k.record, parts->secret));
}

TEST(ApiKey, RecordHoldsNoSecret) {
  NewKey k = GenerateKey("client", {}, {"iris"}, false, 1);
  auto parts = ParseKey(k.plaintext);
  EXPECT_EQ(k.record.secret_sha256.find(parts->secret), std::string::npos);
  EXPECT_EQ(k.record.secret_sha256.size(), 64u);
}

TEST(ApiKey, WrongSecretOrShapeFails) {
  NewKey k = GenerateKey("client", {}, {"iris"}, false, 1);
  auto parts = ParseKey(k.plaintext);
  std::string wrong = parts->secret;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(SecretMatches(k.record, wrong));
  EXPECT_FALSE(ParseKey("kiln_short").has_value());
  EXPECT_FALSE(ParseKey("nope_" + k.plaintext.substr(5)).has_value());
}

TEST(ApiKey, Scopes) {
  ApiKeyRecord route_key{.routes = {"/predict"}};
  EXPECT_TRUE(KeyAllowsRoute(route_key, "/predict", "iris"));
  EXPECT_FALSE(KeyAllowsRoute(route_key, "/other", "iris"));
  ApiKeyRecord fn_key{.functions = {"iris"}};
  EXPECT_TRUE(KeyAllowsRoute(fn_key, "/anything", "iris"));
  EXPECT_FALSE(KeyAllowsRoute(fn_key, "/anything", "wine"));
  ApiKeyRecord admin{.admin = true};
  EXPECT_TRUE(KeyAllowsRoute(admin, "/x", "y"));
}

}  // namespace
}  // namespace kiln::auth
