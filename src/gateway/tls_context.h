// DESIGN: the front door's TLS settings (kiln serve --tls-cert/--tls-key), over
// OpenSSL through Boost.Asio's ssl::context. TLS 1.2 and 1.3 only, forward-secret
// AEAD ciphers only (Mozilla's "intermediate" list), the server's order, no
// compression, no renegotiation, no session tickets (no ticket key to rotate).
// Reload reads both files again and swaps in a new context only if the pair loads
// and matches; a connection keeps the context it was accepted with (shared), so a
// reload never disturbs one in flight. Used on the I/O thread only.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/status.h"

namespace kiln::gateway {

class TlsContext {
 public:
  // Loads the certificate chain (PEM, leaf first) and its private key (PEM).
  static Result<std::unique_ptr<TlsContext>> Load(std::string cert_path, std::string key_path);

  // Reads the files again; on failure the current context stays, and the error says why.
  Status Reload();
  // The context new connections use.
  std::shared_ptr<boost::asio::ssl::context> current() const { return current_; }
  // The current certificate's subject, for the log line.
  const std::string& subject() const { return subject_; }

 private:
  TlsContext(std::string cert_path, std::string key_path) : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {}

  std::string cert_path_;
  std::string key_path_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  std::string subject_;
};

}  // namespace kiln::gateway
