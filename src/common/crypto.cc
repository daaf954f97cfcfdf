#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "common/status.h"

namespace kiln {
namespace {

// Fetched once: OpenSSL 3 would look the implementation up again at every digest
// given EVP_sha256() (a lock and a property search; most of a short key's hashing).
const EVP_MD* FetchedSha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  KILN_CHECK(md != nullptr);
  return md;
}

// Random bytes drawn from OpenSSL a page at a time, per thread: RAND_bytes checks for
// a fork (a getpid) on every call, which a run id per request would pay each time.
// A process forked from the daemon execs before it could use a copy of the page.
class RandomPage {
 public:
  void Fill(unsigned char* out, size_t n) {
    while (n > 0) {
      if (used_ == sizeof page_) {
        KILN_CHECK(RAND_bytes(page_, sizeof page_) == 1);
        used_ = 0;
      }
      const size_t take = std::min(n, sizeof page_ - used_);
      std::memcpy(out, page_ + used_, take);
      OPENSSL_cleanse(page_ + used_, take);  // handed out once
      used_ += take;
      out += take;
      n -= take;
    }
  }

 private:
  unsigned char page_[4096];
  size_t used_ = sizeof page_;
};

void RandomBytes(unsigned char* out, size_t n) {
  thread_local RandomPage page;
  page.Fill(out, n);
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  KILN_CHECK(ctx_ != nullptr);
  KILN_CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), FetchedSha256(), nullptr) == 1);
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(std::string_view data) {
  KILN_CHECK(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) == 1);
}

std::string Sha256::FinishHex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  KILN_CHECK(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len) == 1);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinishHex();
}

std::string RandomAlnum(size_t n) {
  static const char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    RandomBytes(buf, sizeof buf);
    for (unsigned char b : buf) {
      if (b >= 248) continue;  // 248 = 4 * 62: reject to keep the choice uniform
      out.push_back(kAlphabet[b % 62]);
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string RandomUuid() {
  unsigned char b[16];
  RandomBytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(n);
  return out;
}

}  // namespace kiln
