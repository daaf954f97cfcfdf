#include "gateway/http_framing.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace kiln::gateway {
namespace {

Refusal Bad(const std::string& why) { return HttpRefusal{400, "malformed HTTP request: " + why}; }

Refusal NotImplemented(std::string_view coding) {
  return HttpRefusal{501, "transfer coding '" + std::string(coding) + "' is not implemented"};
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The fields framing depends on, found in one pass over the header (Beast keeps
// fields in arrival order; `count`/`find` would each search again by name).
struct FramingFields {
  std::vector<std::string_view> transfer_encoding;  // each line's value, in order
  size_t content_lengths = 0;
  std::string_view content_length;
  size_t hosts = 0;
  std::string_view host;
};

FramingFields Collect(const RequestHeader& h) {
  FramingFields f;
  for (const auto& field : h) {
    std::string_view value(field.value().data(), field.value().size());
    switch (field.name()) {
      case http::field::transfer_encoding:
        f.transfer_encoding.push_back(value);
        break;
      case http::field::content_length:
        ++f.content_lengths;
        f.content_length = value;
        break;
      case http::field::host:
        ++f.hosts;
        f.host = value;
        break;
      default:
        break;
    }
  }
  return f;
}

// Every coding of every Transfer-Encoding line, in order ("" for an empty element).
std::vector<std::string_view> Codings(const std::vector<std::string_view>& lines) {
  std::vector<std::string_view> out;
  for (std::string_view v : lines) {
    for (;;) {
      size_t comma = v.find(',');
      out.push_back(Trim(v.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

Refusal CheckTransferEncoding(const RequestHeader& h, const FramingFields& f) {
  std::vector<std::string_view> codings = Codings(f.transfer_encoding);
  if (h.version() < 11) return Bad("Transfer-Encoding in an HTTP/1.0 request");
  if (f.content_lengths > 0) return Bad("both Transfer-Encoding and Content-Length");
  for (size_t i = 0; i < codings.size(); ++i) {
    if (codings[i].empty()) return Bad("an empty transfer coding");
    if (IEquals(codings[i], "chunked") && i + 1 < codings.size()) {
      return Bad("chunked is not the last transfer coding");
    }
  }
  if (!IEquals(codings.back(), "chunked")) {
    if (codings.size() > 1) return Bad("the transfer codings do not end in chunked");
    return NotImplemented(codings.back());
  }
  // Only the last is chunked (checked above): the others are codings Kiln does not decode.
  if (codings.size() > 1) {
    return NotImplemented(codings[0]);
  }
  return std::nullopt;
}

Refusal CheckContentLength(const FramingFields& f) {
  if (f.content_lengths > 1) return Bad("Content-Length is repeated");
  std::string_view v = f.content_length;
  if (v.empty() || v.size() > 19) return Bad("Content-Length is not a decimal number of bytes");
  for (char c : v) {
    if (c < '0' || c > '9') return Bad("Content-Length is not a decimal number of bytes");
  }
  return std::nullopt;
}

// The bytes of uri-host [ ":" port ]: reg-name, IPv4 or an IP-literal in brackets.
constexpr std::array<bool, 256> kHostBytes = [] {
  std::array<bool, 256> ok{};
  for (int c = 0; c < 256; ++c) {
    ok[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  }
  for (char c : std::string_view("-._~%!$&'()*+,;=:[]")) ok[static_cast<unsigned char>(c)] = true;
  return ok;
}();

bool ValidHost(std::string_view host) {
  if (host.empty()) return false;
  return std::all_of(host.begin(), host.end(), [](char c) { return kHostBytes[static_cast<unsigned char>(c)]; });
}

Refusal CheckHost(const RequestHeader& h, const FramingFields& f) {
  if (f.hosts > 1) return Bad("Host is repeated");
  if (f.hosts == 0) {
    return h.version() >= 11 ? Bad("an HTTP/1.1 request without Host") : std::nullopt;
  }
  if (!ValidHost(f.host)) return Bad("Host is malformed");
  return std::nullopt;
}

Refusal CheckTarget(const RequestHeader& h) {
  std::string_view target(h.target().data(), h.target().size());
  if (target == "*" && h.method() == http::verb::options) return std::nullopt;
  if (target.empty() || target.front() != '/') {
    return Bad("the target must be a path (origin-form), not '" + std::string(target.substr(0, 64)) + "'");
  }
  return std::nullopt;
}

}  // namespace

Refusal CheckFraming(const RequestHeader& h) {
  if (h.version() / 10 != 1) {
    return HttpRefusal{505, "HTTP/" + std::to_string(h.version() / 10) + "." + std::to_string(h.version() % 10) +
                                " is not supported"};
  }
  const FramingFields fields = Collect(h);
  if (!fields.transfer_encoding.empty()) {
    if (Refusal r = CheckTransferEncoding(h, fields)) return r;
  }
  if (fields.content_lengths > 0) {
    if (Refusal r = CheckContentLength(fields)) return r;
  }
  if (Refusal r = CheckHost(h, fields)) return r;
  return CheckTarget(h);
}

Refusal CheckHeaderSize(std::string_view raw, const HttpLimits& limits) {
  const size_t eol = raw.find('\n');
  const size_t line = eol == std::string_view::npos ? raw.size() : eol + 1;
  if (line > limits.max_request_line + 2) {
    return HttpRefusal{414, "the request line is over " + std::to_string(limits.max_request_line) +
                                " bytes (kiln serve --max-request-line-kb)"};
  }
  std::string_view fields = raw.substr(line);
  // The empty line that ends the header is not a field.
  if (fields.size() > limits.max_header_bytes + 2) {
    return HttpRefusal{431, "the header fields are over " + std::to_string(limits.max_header_bytes) +
                                " bytes (kiln serve --max-header-kb)"};
  }
  size_t count = 0;
  for (size_t i = fields.find('\n'); i != std::string_view::npos; i = fields.find('\n', i + 1)) ++count;
  const bool complete = fields == "\r\n" || fields == "\n" || fields.ends_with("\n\r\n") || fields.ends_with("\n\n");
  if (complete) --count;  // the empty line
  if (count > limits.max_header_count) {
    return HttpRefusal{431, "more than " + std::to_string(limits.max_header_count) +
                                " header fields (kiln serve --max-header-count)"};
  }
  return std::nullopt;
}

Refusal CheckHeaderBytes(std::string_view raw) {
  for (size_t i = raw.find('\n'); i != std::string_view::npos && i + 1 < raw.size(); i = raw.find('\n', i + 1)) {
    if (raw[i + 1] == ' ' || raw[i + 1] == '\t') return Bad("obs-fold (a header line that starts with white space)");
  }
  return std::nullopt;
}

}  // namespace kiln::gateway
