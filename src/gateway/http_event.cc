#include "gateway/http_event.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string_view>
#include <vector>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/json_text.h"
#include "common/time_util.h"

namespace kiln::gateway {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding of one query component.
std::string DecodeComponent(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size() &&
               HexVal(in[i + 1]) >= 0 && HexVal(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexVal(in[i + 1]) * 16 + HexVal(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// Well-formed UTF-8 as RFC 3629 defines it (the table in its section 4): no overlong
// forms, no surrogates, nothing past U+10FFFF. What passes here is text a JSON parser
// reads back as it was (a lax check let "\xC1\x97" through; found by fuzzing).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {  // ASCII, the common case: one byte, nothing to check
      ++i;
      continue;
    }
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong below U+0800
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;  // overlong below U+10000
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      return false;  // a continuation byte first, C0/C1 (overlong), F5 and above
    }
    if (i + n > s.size()) return false;
    const unsigned char second = static_cast<unsigned char>(s[i + 1]);
    if (second < lo || second > hi) return false;
    for (size_t k = 2; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

bool IsTextBody(std::string_view content_type, const std::string& body) {
  std::string ct = Lower(std::string(content_type.substr(0, content_type.find(';'))));
  static const char* kBinaryPrefixes[] = {"application/octet-stream", "image/", "audio/", "video/",
                                          "application/zip", "application/gzip",
                                          "application/x-protobuf", "application/pdf"};
  for (const char* p : kBinaryPrefixes) {
    if (ct.rfind(p, 0) == 0) return false;
  }
  return ValidUtf8(body);
}

namespace {

// `s` as a JSON string: escaped straight when it is well-formed UTF-8 (the common
// case), else through nlohmann, which puts U+FFFD for each byte that is not.
void AppendText(std::string* out, std::string_view s) {
  if (ValidUtf8(s)) {
    AppendJsonString(out, s);
  } else {
    *out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

// ,"key": (the key is a literal of this file: plain ASCII)
void AppendKey(std::string* out, std::string_view key, bool first = false) {
  if (!first) *out += ',';
  *out += '"';
  *out += key;
  *out += "\":";
}

void AppendTextField(std::string* out, std::string_view key, std::string_view value, bool first = false) {
  AppendKey(out, key, first);
  AppendText(out, value);
}

// {"k":"v",...} of a map, in its (sorted) order.
void AppendObject(std::string* out, const std::map<std::string, std::string>& m) {
  *out += '{';
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) *out += ',';
    first = false;
    AppendText(out, k);
    *out += ':';
    AppendText(out, v);
  }
  *out += '}';
}

}  // namespace

// Written as text, field by field: the event is on every request's path, and a JSON
// tree of it cost more than the rest of the daemon's work for a small request.
std::string BuildHttpEvent(const Request& req, const EventContext& ctx) {
  const std::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view raw_query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  // Header names lower-cased, repeated headers joined by commas; cookies apart.
  std::map<std::string, std::string> headers;
  std::vector<std::string> cookies;
  for (const auto& field : req.base()) {
    std::string name = Lower(std::string(field.name_string()));
    std::string_view value(field.value().data(), field.value().size());
    if (name == "cookie") {
      size_t start = 0;
      while (start < value.size()) {
        size_t end = value.find(';', start);
        if (end == std::string_view::npos) end = value.size();
        std::string_view c = value.substr(start, end - start);
        const size_t lead = c.find_first_not_of(' ');
        c = lead == std::string_view::npos ? std::string_view() : c.substr(lead);
        if (!c.empty()) cookies.emplace_back(c);
        start = end + 1;
      }
      continue;
    }
    if (name == "authorization" || name == "x-api-key") continue;
    auto [it, fresh] = headers.emplace(std::move(name), value);
    if (!fresh) (it->second += ',') += value;
  }

  std::map<std::string, std::string> query;
  size_t start = 0;
  while (!raw_query.empty() && start <= raw_query.size()) {
    size_t end = raw_query.find('&', start);
    if (end == std::string_view::npos) end = raw_query.size();
    std::string_view pair = raw_query.substr(start, end - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string key = DecodeComponent(pair.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : DecodeComponent(pair.substr(eq + 1));
      auto [it, fresh] = query.emplace(std::move(key), value);
      if (!fresh) (it->second += ',') += value;
    }
    start = end + 1;
  }

  const std::string& body = req.body();
  auto header = [&](const char* name) -> std::string_view {
    auto it = headers.find(name);
    return it == headers.end() ? std::string_view() : std::string_view(it->second);
  };
  const bool text = IsTextBody(header("content-type"), body);

  std::string out;
  out.reserve(512 + body.size() + target.size());
  out += '{';
  AppendTextField(&out, "version", "2.0", /*first=*/true);
  AppendTextField(&out, "routeKey", ctx.route_key);
  AppendTextField(&out, "rawPath", path);
  AppendTextField(&out, "rawQueryString", raw_query);
  if (!cookies.empty()) {
    AppendKey(&out, "cookies");
    out += '[';
    for (size_t i = 0; i < cookies.size(); ++i) {
      if (i > 0) out += ',';
      AppendText(&out, cookies[i]);
    }
    out += ']';
  }
  AppendKey(&out, "headers");
  AppendObject(&out, headers);
  if (!query.empty()) {
    AppendKey(&out, "queryStringParameters");
    AppendObject(&out, query);
  }
  AppendKey(&out, "requestContext");
  out += '{';
  AppendTextField(&out, "accountId", "anonymous", /*first=*/true);
  AppendTextField(&out, "apiId", "kiln");
  if (ctx.authorizer) {
    AppendKey(&out, "authorizer");
    out += "{\"kiln\":{";
    AppendTextField(&out, "keyId", ctx.authorizer->key_id, /*first=*/true);
    AppendTextField(&out, "keyName", ctx.authorizer->key_name);
    out += "}}";
  }
  AppendTextField(&out, "domainName", header("host"));
  AppendKey(&out, "http");
  out += '{';
  AppendTextField(&out, "method", std::string_view(req.method_string().data(), req.method_string().size()),
                  /*first=*/true);
  AppendTextField(&out, "path", path);
  AppendTextField(&out, "protocol", req.version() == 10 ? "HTTP/1.0" : "HTTP/1.1");
  AppendTextField(&out, "sourceIp", ctx.source_ip);
  AppendTextField(&out, "userAgent", header("user-agent"));
  out += '}';
  AppendTextField(&out, "requestId", ctx.request_id);
  AppendTextField(&out, "routeKey", ctx.route_key);
  AppendTextField(&out, "stage", "$default");
  AppendTextField(&out, "time", FormatClf(ctx.epoch_ms));
  AppendKey(&out, "timeEpoch");
  out += std::to_string(ctx.epoch_ms);
  out += '}';
  AppendKey(&out, "isBase64Encoded");
  out += !body.empty() && !text ? "true" : "false";
  AppendKey(&out, "body");
  if (body.empty()) {
    out += "null";
  } else {
    // Valid UTF-8 when sent as text, ASCII when base64: the fast escaper, as is.
    AppendJsonString(&out, text ? std::string_view(body) : std::string_view(Base64Encode(body)));
  }
  out += '}';
  return out;
}

namespace {

// A failure of the handler's making, whose message may say more than a caller of a
// public route should read.
bool HandlersFailure(RunStatus s) {
  return s == RunStatus::kError || s == RunStatus::kTimeout || s == RunStatus::kOom || s == RunStatus::kCrashed ||
         s == RunStatus::kResultTooLarge;
}

}  // namespace

Response RenderInvocation(const dispatch::Invocation& inv, unsigned version, RouteErrors errors) {
  Response res{static_cast<http::status>(inv.run.http_status), version};
  if (inv.run.status == RunStatus::kOk && inv.http) {
    for (const auto& [k, v] : inv.http->headers) res.set(k, v);
    for (const auto& c : inv.http->cookies) res.insert(http::field::set_cookie, c);
    if (res.find(http::field::content_type) == res.end()) {
      res.set(http::field::content_type, "application/json");
    }
  } else {
    res.set(http::field::content_type, "application/json");
    if (inv.run.status == RunStatus::kThrottled) res.set(http::field::retry_after, "1");
  }
  res.set("X-Kiln-Run-Id", inv.run.id);
  res.set("X-Kiln-Run-Status", RunStatusName(inv.run.status));
  // RFC 9110 §15: 1xx, 204 and 304 carry no content; a handler's body for them is
  // kept in the run record only.
  const unsigned code = res.result_int();
  if (errors == RouteErrors::kGeneric && HandlersFailure(inv.run.status)) {
    res.body() = nlohmann::json{{"error", "internal"}, {"run_id", inv.run.id}}.dump();
  } else if (code >= 200 && code != 204 && code != 304) {
    res.body() = inv.body;
  }
  res.prepare_payload();
  return res;
}

Response RenderAccepted(const Result<Enqueued>& queued, unsigned version) {
  if (!queued.ok()) {
    Response res = ErrorResponse(queued.status(), version, true);
    if (queued.status().code() == Code::kResourceExhausted) res.set(http::field::retry_after, "1");
    return res;
  }
  Response res{http::status::accepted, version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::location, "/v1/runs/" + queued->run_id);
  res.set("X-Kiln-Run-Id", queued->run_id);
  res.body() = nlohmann::json{{"run_id", queued->run_id}, {"created", queued->created}}.dump();
  res.prepare_payload();
  return res;
}

bool AsksForAsync(const RequestHeader& header) {
  auto h = header.find("X-Kiln-Invocation-Type");
  return h != header.end() && h->value() == "Event";
}

}  // namespace kiln::gateway
