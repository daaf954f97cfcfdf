#include "auth/api_key.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace kiln::auth {
namespace {

NewKey RouteKey() { return GenerateKey("client", {.routes = {"/predict"}}, 1); }

TEST(ApiKey, GeneratedKeyHasTheDocumentedShape) {
  NewKey k = RouteKey();
  ASSERT_EQ(k.plaintext.rfind("kiln_", 0), 0u);
  ASSERT_EQ(k.plaintext.size(), 5u + 8 + 1 + 40 + 6);
  EXPECT_EQ(k.plaintext.substr(54), Checksum(k.plaintext.substr(0, 54)));
  auto parts = ParseKey(k.plaintext);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->id, k.record.id);
  EXPECT_EQ(parts->id.size(), 8u);
  EXPECT_FALSE(parts->legacy);
  EXPECT_FALSE(k.record.legacy);
  EXPECT_TRUE(KeyOpens(&k.record, parts->secret, 2));
}

TEST(ApiKey, ChecksumIsSixBase62Characters) {
  EXPECT_EQ(Checksum("").size(), 6u);  // CRC32("") = 0: all padding
  EXPECT_EQ(Checksum(""), "000000");
  EXPECT_EQ(Checksum("123456789"), "3jZRME");  // CRC32 check value 0xCBF43926, in base62
}

TEST(ApiKey, BadChecksumIsRefusedByTheParse) {
  NewKey k = RouteKey();
  std::string bad = k.plaintext;
  bad.back() = bad.back() == '0' ? '1' : '0';
  EXPECT_FALSE(ParseKey(bad).has_value());
  std::string typo = k.plaintext;
  typo[20] = typo[20] == 'a' ? 'b' : 'a';  // a secret character: the checksum no longer holds
  EXPECT_FALSE(ParseKey(typo).has_value());
}

TEST(ApiKey, OldFormatStillParsesAsLegacy) {
  NewKey k = RouteKey();
  std::string old = k.plaintext.substr(0, 54);  // kiln_<id>_<secret>, as keys were made before
  auto parts = ParseKey(old);
  ASSERT_TRUE(parts.has_value());
  EXPECT_TRUE(parts->legacy);
  EXPECT_EQ(parts->id, k.record.id);
  EXPECT_TRUE(KeyOpens(&k.record, parts->secret, 2));
}

TEST(ApiKey, GarbageAndWrongLengthsFail) {
  NewKey k = RouteKey();
  for (std::string bad : {std::string(), std::string("kiln_short"), "nope_" + k.plaintext.substr(5),
                          k.plaintext + "x", k.plaintext.substr(0, 59), k.plaintext.substr(0, 53),
                          k.plaintext.substr(0, 55), std::string(60, 'k')}) {
    EXPECT_FALSE(ParseKey(bad).has_value()) << bad;
  }
  std::string no_sep = k.plaintext;
  no_sep[13] = 'x';
  EXPECT_FALSE(ParseKey(no_sep).has_value());
  std::string body = "kiln_abc$efgh_" + std::string(40, 'a');  // not alphanumeric, checksum right
  EXPECT_FALSE(ParseKey(body + Checksum(body)).has_value());
}

TEST(ApiKey, RecordHoldsNoSecret) {
  NewKey k = GenerateKey("client", {.functions = {"iris"}}, 1);
  auto parts = ParseKey(k.plaintext);
  EXPECT_EQ(k.record.secret_sha256.find(parts->secret), std::string::npos);
  EXPECT_EQ(k.record.secret_sha256.size(), 64u);
}

TEST(ApiKey, WrongSecretUnknownIdAndExpiryFail) {
  NewKey k = GenerateKey("client", {.functions = {"iris"}, .expires_at = 100}, 1);
  auto parts = ParseKey(k.plaintext);
  std::string wrong = parts->secret;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(KeyOpens(&k.record, wrong, 2));
  EXPECT_FALSE(KeyOpens(nullptr, parts->secret, 2));
  EXPECT_TRUE(KeyOpens(&k.record, parts->secret, 99));
  EXPECT_FALSE(KeyOpens(&k.record, parts->secret, 100));
}

TEST(ApiKey, PreviousSecretOpensOnlyWithinTheGrace) {
  NewKey k = RouteKey();
  auto old = ParseKey(k.plaintext);
  IssuedSecret fresh = IssueSecret(k.record.id);
  k.record.previous_sha256 = k.record.secret_sha256;
  k.record.previous_valid_until = 50;
  k.record.secret_sha256 = fresh.sha256;
  auto now = ParseKey(fresh.plaintext);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->id, k.record.id);
  EXPECT_TRUE(KeyOpens(&k.record, old->secret, 49));
  EXPECT_FALSE(KeyOpens(&k.record, old->secret, 50));
  EXPECT_TRUE(KeyOpens(&k.record, now->secret, 50));
}

TEST(ApiKey, Scopes) {
  ApiKeyRecord route_key{.routes = {"/predict"}};
  EXPECT_TRUE(KeyAllowsRoute(route_key, "/predict", "iris"));
  EXPECT_FALSE(KeyAllowsRoute(route_key, "/other", "iris"));
  ApiKeyRecord fn_key{.functions = {"iris"}};
  EXPECT_TRUE(KeyAllowsRoute(fn_key, "/anything", "iris"));
  EXPECT_FALSE(KeyAllowsRoute(fn_key, "/anything", "wine"));
  ApiKeyRecord admin{.role = ControlRole::kAdmin};
  EXPECT_TRUE(KeyAllowsRoute(admin, "/x", "y"));
  ApiKeyRecord deployer{.role = ControlRole::kDeployer};
  EXPECT_FALSE(KeyAllowsRoute(deployer, "/x", "y"));
}

TEST(ApiKey, RolesAreOrdered) {
  EXPECT_TRUE(RoleAtLeast(ControlRole::kAdmin, ControlRole::kDeployer));
  EXPECT_TRUE(RoleAtLeast(ControlRole::kDeployer, ControlRole::kReader));
  EXPECT_FALSE(RoleAtLeast(ControlRole::kReader, ControlRole::kDeployer));
  EXPECT_FALSE(RoleAtLeast(ControlRole::kNone, ControlRole::kReader));
  EXPECT_TRUE(RoleAtLeast(ControlRole::kNone, ControlRole::kNone));
}

}  // namespace
}  // namespace kiln::auth
