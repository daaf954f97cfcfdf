// DESIGN: named secrets (SPEC §1). A value is sealed with AES-256-GCM under the node
// key (<data>/secret.key) with its name as associated data, and only the sealed bytes
// reach the store. A function's env refers to one as `secret:NAME`; the reference is
// what versions, the API, the CLI and run records keep, and Resolve replaces it with
// the value only when a container's environment is assembled. Nothing here returns a
// value to anyone else, and nothing logs one.
// Threads: the daemon's I/O thread (the control API and container starts).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/records.h"
#include "store/secret_store.h"

namespace kiln::secrets {

constexpr size_t kMaxValueBytes = 64u << 10;

// NAME when an env value is `secret:NAME`.
std::optional<std::string> ReferencedSecret(const std::string& env_value);

class Secrets {
 public:
  // `node_key`: 32 bytes.
  Secrets(SecretStore* store, std::string node_key) : store_(store), node_key_(std::move(node_key)) {}

  // Creates or replaces; true when it created. Names: [A-Za-z0-9_-], 1 to 64.
  Result<bool> Set(const std::string& name, const std::string& value);
  // Names and update times, never values.
  Result<std::vector<SealedSecret>> List();
  Status Remove(const std::string& name);
  // NotFound naming each `secret:NAME` of the env whose secret does not exist.
  Status CheckReferences(const std::map<std::string, std::string>& env);
  // The env with each `secret:NAME` replaced by the secret's value.
  Result<std::map<std::string, std::string>> Resolve(const std::map<std::string, std::string>& env);

 private:
  SecretStore* store_;
  std::string node_key_;
};

}  // namespace kiln::secrets
