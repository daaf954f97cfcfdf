// DESIGN: the front door's reading of a request (gateway/http_connection.cc): raw
// bytes, cut into reads, through Beast's request_parser as the server drives it (a
// header limit from HttpLimits, no body limit until the header is in; then the body
// limit the route allows), with Kiln's checks on the header bytes and fields
// (gateway/http_framing.h). Checked:
// - a request the checks accept has exactly one reading of its body's length, and it
//   is Beast's: chunked exactly when Transfer-Encoding is there, Content-Length's
//   value exactly when that is there, and no body otherwise (no smuggling gap);
// - the parser never yields a body over the limit it was given;
// - a complete request serializes again.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>

#include "gateway/http_framing.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using kiln::gateway::HttpLimits;

// The limits a route may have: /healthz (none), a small user cap, the control API's.
constexpr size_t kBodyLimits[] = {0, 16, 8u << 20};

// Feeds `buffer` to the parser until it is done (with the header, or with all) or
// fails; true if it needs more bytes than the buffer holds. `header` gets the raw
// header bytes the parser consumed when it finished the header.
bool Put(http::request_parser<http::string_body>& parser, beast::flat_buffer& buffer,
         beast::error_code& ec, bool header_only, std::string* header) {
  while (!(header_only ? parser.is_header_done() : parser.is_done())) {
    if (buffer.size() == 0) return true;
    size_t used = parser.put(buffer.data(), ec);
    if (header_only && parser.is_header_done()) {
      header->assign(static_cast<const char*>(buffer.data().data()), used);
    }
    buffer.consume(used);
    if (ec == http::error::need_more) {
      ec = {};
      return true;
    }
    if (ec) return false;
    if (used == 0) return true;
  }
  return false;
}

// The body's framing by the accepted fields, read without Beast.
struct Framing {
  bool chunked = false;
  unsigned long long length = 0;
};
Framing FramingOf(const kiln::gateway::RequestHeader& h) {
  if (h.count(http::field::transfer_encoding) > 0) return {true, 0};
  auto cl = h.find(http::field::content_length);
  if (cl == h.end()) return {};
  return {false, std::stoull(std::string(cl->value()))};  // at most 19 digits: checked
}

// The framing checks accepted the header: Beast must frame the body the same way.
void CheckOneReading(const http::request_parser<http::string_body>& parser) {
  const Framing framing = FramingOf(parser.get().base());
  if (parser.chunked() != framing.chunked) std::abort();
  if (framing.chunked) {
    if (parser.content_length()) std::abort();
  } else if (parser.content_length().value_or(0) != framing.length) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const size_t body_limit = in.PickValueInArray(kBodyLimits);
  const HttpLimits limits;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<uint32_t>(limits.max_request_line + limits.max_header_bytes + 64));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::flat_buffer buffer;
  beast::error_code ec;
  std::string header;
  bool limited = false;
  bool more = true;
  while (!ec && !parser.is_done()) {
    if (parser.is_header_done() && !limited) {
      kiln::gateway::Refusal refusal = kiln::gateway::CheckHeaderSize(header, limits);
      if (!refusal) refusal = kiln::gateway::CheckHeaderBytes(header);
      if (!refusal) refusal = kiln::gateway::CheckFraming(parser.get().base());
      if (refusal) {
        if (refusal->status < 400 || refusal->status > 505) std::abort();
        return 0;  // answered and closed
      }
      CheckOneReading(parser);
      auto length = parser.content_length();
      if (length && *length > body_limit) return 0;  // answered 413 unread
      parser.body_limit(body_limit);
      limited = true;
    }
    if (more) {
      if (in.remaining_bytes() == 0) {
        parser.put_eof(ec);
        break;
      }
      std::string chunk = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(1, 512));
      buffer.commit(boost::asio::buffer_copy(buffer.prepare(chunk.size()), boost::asio::buffer(chunk)));
    }
    more = Put(parser, buffer, ec, !limited, &header);
  }
  if (ec || !parser.is_done()) return 0;
  http::request<http::string_body> req = parser.release();
  if (req.body().size() > body_limit) std::abort();
  req.prepare_payload();
  std::ostringstream out;
  out << req;
  if (out.str().empty()) std::abort();
  return 0;
}
