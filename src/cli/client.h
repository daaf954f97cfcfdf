// DESIGN: the CLI's side of the control API: one synchronous HTTP/1.1 request per
// call over Boost.Beast, the admin key attached. Non-2xx answers become a Status
// carrying the server's {"error":{"message"}} text, so every command can print one
// line and exit non-zero; an error's "logs", when it has some, go to stderr first.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace kiln::cli {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class Client {
 public:
  Client(std::string base_url, std::string key);

  // Any answer, whatever its status (only transport errors fail).
  Result<Reply> Send(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& content_type,
                     const std::map<std::string, std::string>& headers = {});
  // A JSON call that must succeed: its parsed body, or the server's error (whose logs,
  // if any, are printed to stderr).
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr);

 private:
  std::string host_;
  std::string port_;
  std::string key_;
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
