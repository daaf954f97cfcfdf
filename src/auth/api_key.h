// DESIGN: API keys are "kiln_<8-char id>_<secret>". The id finds the record; the
// secret is kept only as its SHA-256 (it is 40 random characters, so a plain hash is
// enough) and compared in constant time. A key is either admin (control API and every
// route) or scoped to route paths and/or function names.
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

NewKey GenerateKey(std::string name, std::vector<std::string> routes,
                   std::vector<std::string> functions, bool admin, int64_t now_ms);

struct KeyParts {
  std::string id;
  std::string secret;
};
std::optional<KeyParts> ParseKey(std::string_view token);

bool SecretMatches(const ApiKeyRecord& record, std::string_view secret);

// May this key call the route (path) that serves `function`?
bool KeyAllowsRoute(const ApiKeyRecord& key, const std::string& path, const std::string& function);

}  // namespace kiln::auth
