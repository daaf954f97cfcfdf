// Hashing, randomness and encodings, all from OpenSSL: no hand-written primitive.
#pragma once

#include <string>
#include <string_view>

namespace kiln {

// Lower-case hex SHA-256 of the bytes.
std::string Sha256Hex(std::string_view data);

// Incremental SHA-256 for data that arrives in pieces (files, archives).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  std::string FinishHex();

 private:
  void* ctx_;
};

// `n` cryptographically random characters from [0-9a-zA-Z].
std::string RandomAlnum(size_t n);
// A random RFC 4122 version-4 UUID, the shape of Lambda request ids.
std::string RandomUuid();
// Constant-time comparison (the length is not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

std::string Base64Encode(std::string_view data);

}  // namespace kiln
