// DESIGN: API key parsing (auth/api_key.h) on any bearer token a client can send.
// Checked: a token that parses is the key format (prefix, id, separator, secret) and
// its parts are slices of the token; a new-format token's checksum is the one of its
// body; its secret opens no record it does not belong to, nor an unknown id.
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/api_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  auto parts = kiln::auth::ParseKey(token);
  if (!parts) return 0;
  if (token.substr(0, 5) != "kiln_") std::abort();
  if (parts->id.empty() || parts->secret.empty()) std::abort();
  if (token.find(parts->id) == std::string_view::npos) std::abort();
  if (token.find(parts->secret) == std::string_view::npos) std::abort();
  if (!parts->legacy && kiln::auth::Checksum(token.substr(0, token.size() - 6)) != token.substr(token.size() - 6)) {
    std::abort();
  }
  kiln::ApiKeyRecord record;
  record.id = parts->id;
  record.secret_sha256 = std::string(64, '0');
  if (kiln::auth::KeyOpens(&record, parts->secret, 0)) std::abort();
  if (kiln::auth::KeyOpens(nullptr, parts->secret, 0)) std::abort();
  return 0;
}
