// DESIGN: sealing small values (secrets) under a 256-bit node key with AES-256-GCM
// (OpenSSL's EVP API): a fresh random 96-bit nonce per value, a 128-bit tag, and
// associated data that binds a sealed value to where it belongs (a secret's name), so
// a value moved to another name does not open. The sealed form is one byte string:
// nonce (12) | ciphertext | tag (16). Opening fails, never guesses, on a wrong key, a
// wrong AAD or any changed byte. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace kiln {

constexpr size_t kSecretKeyBytes = 32;

Result<std::string> Seal(std::string_view key, std::string_view plaintext, std::string_view aad);
Result<std::string> Open(std::string_view key, std::string_view sealed, std::string_view aad);

}  // namespace kiln
