// DESIGN: one HTTP/1.1 connection of HttpServer: the request loop of the server's
// DESIGN comment (header phase, body phase, answer), on the I/O thread. The header is
// read by feeding Beast's parser from Kiln's own buffer, so the raw header bytes can
// be checked (obs-fold, sizes) before Beast's reading of them is trusted. A spooled
// body is a file that lives exactly as long as its request. Every deadline cancels
// the pending operation rather than closing the socket, so 408 can still be sent.
// The same loop serves plain TCP and TLS: Stream is a tcp::socket, or an ssl::stream
// over one whose handshake HttpServer has done (instantiated for both in the .cc).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>

#include "gateway/http_framing.h"
#include "gateway/http_server.h"
#include "gateway/socket_deadline.h"
#include "gateway/traffic_counters.h"

namespace kiln::gateway {

template <class Stream>
class HttpConnection {
 public:
  HttpConnection(Stream stream, KeyedLimiter::Lease address, HttpHandler* handler, const HttpLimits& limits,
                 TrafficCounters* counters);

  asio::ip::tcp::socket& socket() { return boost::beast::get_lowest_layer(stream_); }
  // Serves requests until the peer leaves, a limit ends the connection or it fails.
  asio::awaitable<void> Run();

 private:
  enum class BodyRead { kDone, kTooLarge, kTimedOut, kMalformed, kSpoolFailed, kGone };
  using Parser = http::request_parser<http::string_body>;

  struct HeaderRead {
    bool gone = false;  // nobody to answer: the peer left or stayed idle
    std::optional<HttpRefusal> refusal;  // to send before closing
  };  // neither: the header is in the parser
  asio::awaitable<HeaderRead> ReadHeader(Parser& parser, bool first);
  template <class BodyParser>
  asio::awaitable<BodyRead> ReadBody(BodyParser& parser);
  // The body into a new file under `dir` (`path` names it once it exists); the
  // header into `req`, whatever the outcome.
  asio::awaitable<BodyRead> SpoolBody(Parser& parser, const std::string& dir, std::string* path, Request* req);
  asio::awaitable<bool> Write(Response& res);
  // Answers a request whose body is left unread, then closes (counted as such).
  asio::awaitable<void> RefuseBody(Response& res);
  // Writes a stream's head and its pieces, chunked, each under the write timeout.
  asio::awaitable<void> WriteStream(ResponseStream& source);
  // Answers, then ends the connection without reading what the peer still sends.
  asio::awaitable<void> Close(Response& res);
  asio::awaitable<void> LingeringClose();
  // Ends the connection: TLS's close_notify first (bounded), then TCP's FIN.
  asio::awaitable<void> Shutdown();

  Stream stream_;
  KeyedLimiter::Lease address_;  // this connection's place under the per-address cap
  HttpHandler* handler_;
  const HttpLimits& limits_;
  TrafficCounters* counters_;
  SocketDeadline deadline_;
  boost::beast::flat_buffer buffer_;
  RequestInfo info_;
};

}  // namespace kiln::gateway
