// DESIGN: where secrets are kept: sealed values by name (the cipher is the caller's,
// common/secret_box.h; a store never sees a plaintext). Its own small interface beside
// the Store: a PostgreSQL backend implements both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace kiln {

struct SealedSecret {
  std::string name;
  std::string sealed;      // nonce | ciphertext | tag
  int64_t updated_at = 0;  // epoch ms
};

class SecretStore {
 public:
  virtual ~SecretStore() = default;
  // Creates or replaces; true when it created.
  virtual Result<bool> PutSecret(const SealedSecret& s) = 0;
  virtual Result<SealedSecret> GetSecret(const std::string& name) = 0;
  // Every secret, by name; `sealed` left empty (listing never needs a value).
  virtual Result<std::vector<SealedSecret>> ListSecrets() = 0;
  virtual Status DeleteSecret(const std::string& name) = 0;
};

}  // namespace kiln
