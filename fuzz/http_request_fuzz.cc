// DESIGN: the front door's reading of a request (gateway/http_server.cc): raw bytes,
// cut into reads, through Beast's request_parser as the server drives it (a 64 KiB
// header limit and no body limit until the header is in; then the body limit the
// route allows), then Kiln's framing check on the header. Checked: the parser never
// yields a body over the limit it was given, and a complete request serializes again.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <sstream>
#include <limits>
#include <string>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr uint32_t kHeaderLimit = 64 * 1024;  // as gateway/http_server.cc
// The limits a route may have: /healthz (none), a small user cap, the control API's.
constexpr size_t kBodyLimits[] = {0, 16, 8u << 20};

// Feeds `buffer` to the parser until it is done (with the header, or with all) or
// fails; true if it needs more bytes than the buffer holds.
bool Put(http::request_parser<http::string_body>& parser, beast::flat_buffer& buffer,
         beast::error_code& ec, bool header_only) {
  while (!(header_only ? parser.is_header_done() : parser.is_done())) {
    if (buffer.size() == 0) return true;
    size_t used = parser.put(buffer.data(), ec);
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const size_t body_limit = in.PickValueInArray(kBodyLimits);
  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::flat_buffer buffer;
  beast::error_code ec;
  bool limited = false;
  bool more = true;
  while (!ec && !parser.is_done()) {
    if (parser.is_header_done() && !limited) {
      // The server's framing check on the header goes here (gateway/http_framing.h).
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
    more = Put(parser, buffer, ec, !limited);
  }
  if (ec || !parser.is_done()) return 0;
  http::request<http::string_body> req = parser.release();
  if (req.body().size() > body_limit) std::abort();
  req.prepare_payload();
  std::ostringstream out;
  out << req;
  std::string wire = out.str();
  if (wire.empty()) std::abort();
  return 0;
}
