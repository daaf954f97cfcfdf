#include "common/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

namespace kiln {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

Result<CipherCtx> NewCtx(std::string_view key, std::string_view nonce, bool encrypt) {
  if (key.size() != kSecretKeyBytes) return Internal("a secret key must be 32 bytes");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return Internal("EVP_CIPHER_CTX_new failed");
  auto init = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
  if (init(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) != 1 ||
      init(ctx.get(), nullptr, nullptr, Bytes(key), Bytes(nonce)) != 1) {
    return Internal("AES-256-GCM init failed");
  }
  return ctx;
}

}  // namespace

Result<std::string> Seal(std::string_view key, std::string_view plaintext, std::string_view aad) {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  if (RAND_bytes(Bytes(out), static_cast<int>(kNonceBytes)) != 1) return Internal("RAND_bytes: no randomness for a nonce");
  KILN_ASSIGN_OR_RETURN(CipherCtx ctx, NewCtx(key, std::string_view(out.data(), kNonceBytes), true));
  int n = 0, tail = 0;
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &n, Bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), Bytes(out) + kNonceBytes, &n, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), Bytes(out) + kNonceBytes + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          Bytes(out) + kNonceBytes + plaintext.size()) != 1) {
    return Internal("AES-256-GCM encryption failed");
  }
  return out;
}

Result<std::string> Open(std::string_view key, std::string_view sealed, std::string_view aad) {
  if (sealed.size() < kNonceBytes + kTagBytes) return InvalidArgument("the sealed value is too short");
  const size_t length = sealed.size() - kNonceBytes - kTagBytes;
  KILN_ASSIGN_OR_RETURN(CipherCtx ctx, NewCtx(key, sealed.substr(0, kNonceBytes), false));
  std::string tag(sealed.substr(kNonceBytes + length));
  std::string out(length, '\0');
  int n = 0, tail = 0;
  if (EVP_DecryptUpdate(ctx.get(), nullptr, &n, Bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), Bytes(out), &n, Bytes(sealed) + kNonceBytes, static_cast<int>(length)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), Bytes(tag)) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), Bytes(out) + n, &tail) != 1) {
    return InvalidArgument("the sealed value does not open: wrong key, wrong name, or changed bytes");
  }
  return out;
}

}  // namespace kiln
