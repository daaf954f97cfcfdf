#include "auth/api_key.h"

#include <algorithm>

#include "common/crypto.h"

namespace kiln::auth {
namespace {
constexpr size_t kIdLen = 8;
constexpr size_t kSecretLen = 40;
constexpr std::string_view kPrefix = "kiln_";
}  // namespace

NewKey GenerateKey(std::string name, std::vector<std::string> routes,
                   std::vector<std::string> functions, bool admin, int64_t now_ms) {
  NewKey k;
  k.record.id = RandomAlnum(kIdLen);
  std::string secret = RandomAlnum(kSecretLen);
  k.record.secret_sha256 = Sha256Hex(secret);
  k.record.name = std::move(name);
  k.record.routes = std::move(routes);
  k.record.functions = std::move(functions);
  k.record.admin = admin;
  k.record.created_at = now_ms;
  k.plaintext = std::string(kPrefix) + k.record.id + "_" + secret;
  return k;
}

std::optional<KeyParts> ParseKey(std::string_view token) {
  if (token.size() != kPrefix.size() + kIdLen + 1 + kSecretLen) return std::nullopt;
  if (token.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  if (token[kPrefix.size() + kIdLen] != '_') return std::nullopt;
  return KeyParts{std::string(token.substr(kPrefix.size(), kIdLen)),
                  std::string(token.substr(kPrefix.size() + kIdLen + 1))};
}

bool SecretMatches(const ApiKeyRecord& record, std::string_view secret) {
  return ConstantTimeEquals(Sha256Hex(secret), record.secret_sha256);
}

bool KeyAllowsRoute(const ApiKeyRecord& key, const std::string& path, const std::string& function) {
  if (key.admin) return true;
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  return has(key.routes, path) || has(key.functions, function);
}

}  // namespace kiln::auth
