// DESIGN: the translation between HTTP and the handler contract (gateway/http_event.h)
// both ways. The input is a raw request, "\n#result\n", then a RESULT header as a
// worker sends it ({"ok":true,"http":{"statusCode","headers","cookies"}}) and after
// "\n#body\n" the result body. The request, parsed by Beast, becomes the v2.0 event,
// which must be valid JSON of the documented shape; the result becomes the response,
// which must serialize and read back as the same response (no header smuggled in).
#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "gateway/http_event.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using kiln::gateway::Request;
using kiln::gateway::Response;
using nlohmann::json;

void CheckEvent(std::string_view raw) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(64 * 1024);
  beast::error_code ec;
  parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec == http::error::need_more) parser.put_eof(ec);
  if (ec || !parser.is_done()) return;
  Request req = parser.release();
  kiln::gateway::EventContext ctx{"POST /predict", "127.0.0.1", "req-1", 1700000000123};
  json event = json::parse(kiln::gateway::BuildHttpEvent(req, ctx), nullptr, false);
  if (event.is_discarded() || !event.is_object()) std::abort();
  if (event["version"] != "2.0" || !event["rawPath"].is_string() || !event["headers"].is_object()) {
    std::abort();
  }
  const json& body = event["body"];
  if (req.body().empty() ? !body.is_null() : !body.is_string()) std::abort();
  if (!event["isBase64Encoded"].get<bool>() && !req.body().empty() && body != req.body()) std::abort();
}

// The HTTP part of a RESULT header, read as the daemon's dispatcher reads it; a
// header not of that shape is the dispatcher's to refuse, so it ends here.
std::optional<kiln::dispatch::HttpResult> ReadHttp(std::string_view header) {
  json h = json::parse(header, nullptr, false);
  if (h.is_discarded() || !h.is_object() || !h.contains("http") || !h["http"].is_object()) {
    return std::nullopt;
  }
  const json& j = h["http"];
  kiln::dispatch::HttpResult r;
  if (j.contains("statusCode")) {
    if (!j["statusCode"].is_number_integer()) return std::nullopt;
    r.status = j["statusCode"].get<int>();
  }
  if (j.contains("headers")) {
    if (!j["headers"].is_object()) return std::nullopt;
    for (const auto& [k, v] : j["headers"].items()) {
      if (!v.is_string()) return std::nullopt;
      r.headers[k] = v.get<std::string>();
    }
  }
  if (j.contains("cookies")) {
    if (!j["cookies"].is_array()) return std::nullopt;
    for (const auto& c : j["cookies"]) {
      if (!c.is_string()) return std::nullopt;
      r.cookies.push_back(c.get<std::string>());
    }
  }
  return r;
}

// What issue #14 (defect 4) has the daemon refuse as Runtime.InvalidResult: a status
// outside 100-599, a header name that is not an RFC 9110 token, a control byte but
// tab in a value. Such results never reach RenderInvocation once that check is in; until then
// they would fail here, so this target leaves them to that check's own tests.
bool Acceptable(const kiln::dispatch::HttpResult& r) {
  auto token = [](const std::string& name) {
    return !name.empty() && name.find_first_not_of("!#$%&'*+-.^_`|~0123456789"
                                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
                                std::string::npos;
  };
  auto clean = [](const std::string& value) {
    return std::none_of(value.begin(), value.end(), [](char ch) {
      const unsigned char c = static_cast<unsigned char>(ch);
      return (c < 0x20 && c != '\t') || c == 0x7F;
    });
  };
  if (r.status < 100 || r.status > 599) return false;
  for (const auto& [name, value] : r.headers) {
    if (!token(name) || !clean(value)) return false;
  }
  for (const auto& c : r.cookies) {
    if (!clean(c)) return false;
  }
  return true;
}

void CheckResponse(std::string_view result) {
  size_t cut = result.find("\n#body\n");
  std::string_view header = result.substr(0, cut);
  std::string_view body = cut == std::string_view::npos ? "" : result.substr(cut + 7);
  kiln::dispatch::Invocation inv;
  inv.run.id = "r1";
  inv.run.status = kiln::RunStatus::kOk;
  inv.http = ReadHttp(header);
  if (!inv.http || !Acceptable(*inv.http)) return;
  inv.run.http_status = inv.http->status;
  inv.body = std::string(body);
  Response res = kiln::gateway::RenderInvocation(inv, 11);
  std::ostringstream out;
  out << res;
  std::string wire = out.str();
  // What a client reads back is this response: its status, its fields, its body.
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  beast::error_code ec;
  parser.put(boost::asio::buffer(wire), ec);
  if (ec == http::error::need_more) parser.put_eof(ec);
  if (ec || !parser.is_done()) std::abort();
  const Response& back = parser.get();
  if (back.result_int() != res.result_int() || back.body() != res.body()) std::abort();
  if (std::distance(back.begin(), back.end()) != std::distance(res.begin(), res.end())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t cut = input.find("\n#result\n");
  CheckEvent(input.substr(0, cut));
  if (cut != std::string_view::npos) CheckResponse(input.substr(cut + 9));
  return 0;
}
