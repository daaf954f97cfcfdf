#include "dispatch/http_result.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace kiln::dispatch {
namespace {

bool IsTchar(unsigned char c) {
  if (std::isalnum(c)) return true;
  static constexpr std::string_view kMarks = "!#$%&'*+-.^_`|~";
  return kMarks.find(static_cast<char>(c)) != std::string_view::npos;
}

// A printable rendering of a handler's string for an error message: short, and with
// CR, LF and other control bytes shown as escapes.
std::string Shown(const std::string& s) {
  std::string out = nlohmann::json(s.substr(0, 64)).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 64) out += "...";
  return out;
}

// RFC 9110 field values: visible bytes, obs-text (0x80 and up), space and tab. Any other
// control byte (CR, LF and NUL split or end a header; DEL and the rest make clients
// refuse the response) is refused. DEL let through was found by fuzzing.
Status CheckValue(const std::string& what, const std::string& value) {
  for (char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      return InvalidArgument(what + " carries a CR, LF or NUL character, or another control byte: " + Shown(value));
    }
  }
  return OkStatus();
}

Result<int> ParseStatus(const nlohmann::json& h) {
  auto it = h.find("statusCode");
  if (it == h.end()) return 200;
  if (!it->is_number_integer()) {
    return InvalidArgument("statusCode must be an integer from 100 to 599, not " + it->dump());
  }
  const int64_t status = it->get<int64_t>();
  if (status < 100 || status > 599) {
    return InvalidArgument("statusCode must be an integer from 100 to 599, not " + std::to_string(status));
  }
  return static_cast<int>(status);
}

// Framing belongs to the daemon: what a handler says about it is dropped, so it can
// neither contradict the body's length nor hold the connection (RFC 9110 §7.6.1).
bool IsFramingHeader(std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const char* kFraming[] = {"content-length", "transfer-encoding", "connection", "keep-alive",
                                   "proxy-connection", "te", "trailer", "upgrade"};
  for (const char* f : kFraming) {
    if (name == f) return true;
  }
  return false;
}

}  // namespace

bool IsHeaderToken(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

Result<HttpResult> ParseHttpResult(const nlohmann::json& h) {
  if (!h.is_object()) return InvalidArgument("the HTTP result is not an object");
  HttpResult r;
  KILN_ASSIGN_OR_RETURN(r.status, ParseStatus(h));
  if (auto headers = h.find("headers"); headers != h.end() && !headers->is_null()) {
    if (!headers->is_object()) return InvalidArgument("headers must be an object of strings");
    for (const auto& [name, value] : headers->items()) {
      if (!IsHeaderToken(name)) return InvalidArgument("header name " + Shown(name) + " is not an RFC 9110 token");
      if (!value.is_string()) return InvalidArgument("header " + name + " has a value that is not a string");
      KILN_RETURN_IF_ERROR(CheckValue("header " + name, value.get<std::string>()));
      if (!IsFramingHeader(name)) r.headers[name] = value.get<std::string>();
    }
  }
  if (auto cookies = h.find("cookies"); cookies != h.end() && !cookies->is_null()) {
    if (!cookies->is_array()) return InvalidArgument("cookies must be an array of strings");
    for (const auto& c : *cookies) {
      if (!c.is_string()) return InvalidArgument("a cookie is not a string: " + c.dump());
      KILN_RETURN_IF_ERROR(CheckValue("a cookie", c.get<std::string>()));
      r.cookies.push_back(c.get<std::string>());
    }
  }
  return r;
}

}  // namespace kiln::dispatch
