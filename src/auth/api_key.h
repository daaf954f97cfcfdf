// DESIGN: API keys are "kiln_<8-char id>_<40-char secret><6-char checksum>" (SPEC §1).
// The checksum is the base62 CRC32 of everything before it: a typo or a truncated key
// is refused by ParseKey alone, before any lookup. Keys made before the checksum
// ("kiln_<id>_<secret>", 54 characters) still parse, marked legacy. The id finds the
// record; the secret is kept only as its SHA-256 (40 random characters, so a plain hash
// is enough). KeyOpens does the same work whatever the outcome (unknown id, wrong
// secret, expired, rotated away): one hash and two constant-time comparisons, so the
// time of a refusal says nothing about why. Pure functions: no state, no threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/records.h"

namespace kiln::auth {

struct NewKey {
  ApiKeyRecord record;
  std::string plaintext;  // shown once, never stored
};

struct KeyScope {
  std::vector<std::string> routes;
  std::vector<std::string> functions;
  ControlRole role = ControlRole::kNone;
  bool metrics = false;
  std::optional<int64_t> expires_at;  // epoch ms
};

NewKey GenerateKey(std::string name, KeyScope scope, int64_t now_ms);

// A fresh secret for key `id`: the plaintext key to show once and the hash to keep.
struct IssuedSecret {
  std::string plaintext;
  std::string sha256;
};
IssuedSecret IssueSecret(const std::string& id);

// The 6-character base62 CRC32 of `body` (zero-padded).
std::string Checksum(std::string_view body);

struct KeyParts {
  std::string id;
  std::string secret;
  bool legacy = false;  // the old format, without a checksum
};
// The parts of a well-formed key whose checksum holds; nullopt otherwise.
std::optional<KeyParts> ParseKey(std::string_view token);

// Does `secret` open `record` at `now_ms`: its current secret, or the previous one
// within the rotation's grace, and not expired? `record` null (unknown id) does the
// same work against a dummy hash and fails.
bool KeyOpens(const ApiKeyRecord* record, std::string_view secret, int64_t now_ms);

// May this key call the route (path) that serves `function`?
bool KeyAllowsRoute(const ApiKeyRecord& key, const std::string& path, const std::string& function);

// Does `have` include `need`? (admin > deployer > reader > none)
inline bool RoleAtLeast(ControlRole have, ControlRole need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

}  // namespace kiln::auth
