#include "auth/api_key.h"

#include <algorithm>
#include <array>
#include <boost/crc.hpp>

#include "common/crypto.h"

namespace kiln::auth {
namespace {
constexpr size_t kIdLen = 8;
constexpr size_t kSecretLen = 40;
constexpr size_t kChecksumLen = 6;  // 62^6 > 2^32: any CRC32 fits
constexpr std::string_view kPrefix = "kiln_";
constexpr size_t kLegacyLen = kPrefix.size() + kIdLen + 1 + kSecretLen;
constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool Alnum(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

}  // namespace

namespace {

std::array<char, kChecksumLen> ChecksumChars(std::string_view body) {
  boost::crc_32_type crc;
  crc.process_bytes(body.data(), body.size());
  uint32_t v = crc.checksum();
  std::array<char, kChecksumLen> out;
  out.fill('0');
  for (size_t i = kChecksumLen; i-- > 0 && v > 0; v /= 62) out[i] = kBase62[v % 62];
  return out;
}

}  // namespace

std::string Checksum(std::string_view body) {
  std::array<char, kChecksumLen> c = ChecksumChars(body);
  return std::string(c.data(), c.size());
}

IssuedSecret IssueSecret(const std::string& id) {
  std::string secret = RandomAlnum(kSecretLen);
  std::string body = std::string(kPrefix) + id + "_" + secret;
  return {body + Checksum(body), Sha256Hex(secret)};
}

NewKey GenerateKey(std::string name, KeyScope scope, int64_t now_ms) {
  NewKey k;
  k.record.id = RandomAlnum(kIdLen);
  IssuedSecret s = IssueSecret(k.record.id);
  k.record.secret_sha256 = std::move(s.sha256);
  k.record.name = std::move(name);
  k.record.routes = std::move(scope.routes);
  k.record.functions = std::move(scope.functions);
  k.record.role = scope.role;
  k.record.metrics = scope.metrics;
  k.record.expires_at = scope.expires_at;
  k.record.created_at = now_ms;
  k.plaintext = std::move(s.plaintext);
  return k;
}

std::optional<KeyParts> ParseKey(std::string_view token) {
  const bool legacy = token.size() == kLegacyLen;
  if (!legacy && token.size() != kLegacyLen + kChecksumLen) return std::nullopt;
  if (token.substr(0, kPrefix.size()) != kPrefix || token[kPrefix.size() + kIdLen] != '_') return std::nullopt;
  if (!legacy) {
    const std::array<char, kChecksumLen> sum = ChecksumChars(token.substr(0, kLegacyLen));
    if (std::string_view(sum.data(), sum.size()) != token.substr(kLegacyLen)) return std::nullopt;
  }
  std::string_view id = token.substr(kPrefix.size(), kIdLen);
  std::string_view secret = token.substr(kPrefix.size() + kIdLen + 1, kSecretLen);
  if (!Alnum(id) || !Alnum(secret)) return std::nullopt;
  return KeyParts{std::string(id), std::string(secret), legacy};
}

bool KeyOpens(const ApiKeyRecord* record, std::string_view secret, int64_t now_ms) {
  // A hash no secret has: what an unknown id (or a key never rotated) compares against.
  static const std::string kDummy = Sha256Hex("no kiln key has this secret");
  const std::string presented = Sha256Hex(secret);
  const bool known = record != nullptr;
  const bool rotated = known && !record->previous_sha256.empty();
  const bool current = ConstantTimeEquals(presented, known ? record->secret_sha256 : kDummy);
  const bool previous = ConstantTimeEquals(presented, rotated ? record->previous_sha256 : kDummy);
  const bool in_grace = rotated && now_ms < record->previous_valid_until;
  const bool live = known && (!record->expires_at || now_ms < *record->expires_at);
  return live & (current | (previous & in_grace));
}

bool KeyAllowsRoute(const ApiKeyRecord& key, const std::string& path, const std::string& function) {
  if (key.role == ControlRole::kAdmin) return true;
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  return has(key.routes, path) || has(key.functions, function);
}

}  // namespace kiln::auth
