// DESIGN: the CLI's side of the control API: one synchronous HTTP/1.1 request per
// call over Boost.Beast, the admin key attached. KILN_URL=https://… speaks TLS 1.2+,
// verifying the daemon's certificate and name against the system's CAs, or against
// KILN_CA_CERT (a PEM file) when set. Non-2xx answers become a Status
// carrying the server's {"error":{"message"}} text, so every command can print one
// line and exit non-zero; an error's "logs", when it has some, go to stderr first.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kiln::cli {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class Client {
 public:
  // `ca_file`: the CAs an https daemon's certificate must chain to ("": the system's).
  Client(std::string base_url, std::string key, std::string ca_file = "");

  // Any answer, whatever its status (only transport errors fail).
  Result<Reply> Send(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& content_type,
                     const std::map<std::string, std::string>& headers = {});
  // GET `path`, its body handed to `on_bytes` as it arrives (kiln logs -f), until the
  // daemon ends it or `on_bytes` returns false; a non-200 answer comes back whole.
  Result<Reply> Follow(const std::string& path, const std::function<bool(std::string_view)>& on_bytes);
  // A JSON call that must succeed: its parsed body, or the server's error (whose logs,
  // if any, are printed to stderr).
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr);

 private:
  // Connects (TCP, or TLS verified as above), runs `exchange` on the stream, closes.
  template <class ExchangeFn>
  Result<Reply> Connected(const ExchangeFn& exchange);
  template <class Stream>
  Result<Reply> FollowExchange(Stream& stream, const std::string& path,
                               const std::function<bool(std::string_view)>& on_bytes);
  template <class Stream>
  Result<Reply> Exchange(Stream& stream, const std::string& method, const std::string& path, const std::string& body,
                         const std::string& content_type, const std::map<std::string, std::string>& headers);

  bool tls_ = false;
  std::string host_;
  std::string port_;
  std::string key_;
  std::string ca_file_;
};

// The server's error message from an error reply, or a description of the reply.
std::string ErrorText(const Reply& r);

// GETs `path` every 200 ms until `done` holds for the answer, for at most `wait_s`
// seconds; past that, an error saying `what` is still not done.
Result<nlohmann::json> PollUntil(Client& client, const std::string& path,
                                 const std::function<bool(const nlohmann::json&)>& done, double wait_s,
                                 const std::string& what);

// KILN_URL (default http://127.0.0.1:8080) and the admin key from KILN_ADMIN_KEY or
// <data>/admin.key.
Result<Client> ClientFromEnvironment(const std::string& data_dir);

}  // namespace kiln::cli
