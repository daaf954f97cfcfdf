#include "gateway/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

namespace kiln::gateway {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2's forward-secret AEAD suites; TLS 1.3's are all AEAD and stay at OpenSSL's
// defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL's reason for the last failure (its error queue, emptied).
std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string SubjectOf(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return "";
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

Result<std::shared_ptr<ssl::context>> Build(const std::string& cert_path, const std::string& key_path,
                                            std::string* subject) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ERR_clear_error();
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return Internal("TLS settings: " + OpenSslError());
  }
  if (SSL_CTX_use_certificate_chain_file(native, cert_path.c_str()) != 1) {
    return InvalidArgument("--tls-cert " + cert_path + ": not a readable PEM certificate chain (" +
                           OpenSslError() + ")");
  }
  if (SSL_CTX_use_PrivateKey_file(native, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL 3 compares the key with the certificate as it loads it.
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return InvalidArgument("--tls-key " + key_path + " is not the key of the certificate in " + cert_path);
    }
    return InvalidArgument("--tls-key " + key_path + ": not a readable PEM private key (" + OpenSslError() + ")");
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return InvalidArgument("--tls-key " + key_path + " is not the key of the certificate in " + cert_path);
  }
  *subject = SubjectOf(native);
  return ctx;
}

}  // namespace

Result<std::unique_ptr<TlsContext>> TlsContext::Load(std::string cert_path, std::string key_path) {
  std::unique_ptr<TlsContext> tls(new TlsContext(std::move(cert_path), std::move(key_path)));
  KILN_RETURN_IF_ERROR(tls->Reload());
  return tls;
}

Status TlsContext::Reload() {
  std::string subject;
  auto ctx = Build(cert_path_, key_path_, &subject);
  if (!ctx.ok()) return ctx.status();
  current_ = std::move(ctx).value();
  subject_ = std::move(subject);
  return OkStatus();
}

}  // namespace kiln::gateway
