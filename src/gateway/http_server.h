// DESIGN: the daemon's HTTP/1.1 front door, on Boost.Beast. One coroutine per
// connection on the I/O thread: read the header, ask the handler how large a body
// this request may have (so an oversized body is refused before it is read, and
// before any container is touched), read the body, hand the request over, write the
// answer, loop while keep-alive. Malformed HTTP gets 400 and the connection closes.
// It knows nothing of Kiln: routing and policy belong to the HttpHandler.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <set>
#include <string>

#include "common/status.h"

namespace kiln::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using RequestHeader = http::request_header<>;

struct RequestInfo {
  std::string remote_ip;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // The most body bytes this request may carry.
  virtual size_t BodyLimit(const RequestHeader& header) = 0;
  // The answer to a request whose body is over its limit.
  virtual asio::awaitable<Response> TooLarge(const RequestHeader& header, const RequestInfo& info) = 0;
  virtual asio::awaitable<Response> Handle(Request req, const RequestInfo& info) = 0;
};

class HttpServer {
 public:
  HttpServer(asio::io_context& io, HttpHandler* handler) : io_(io), handler_(handler), acceptor_(io) {}

  Status Listen(const std::string& host, uint16_t port);
  // Stops accepting and closes every connection, so the I/O loop can run dry.
  void Stop();

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(asio::ip::tcp::socket socket);
  static asio::awaitable<void> LingeringClose(boost::beast::tcp_stream& stream);

  asio::io_context& io_;
  HttpHandler* handler_;
  asio::ip::tcp::acceptor acceptor_;
  std::set<asio::ip::tcp::socket*> connections_;  // open sessions, closed by Stop()
};

// A JSON response, the shape of every control-API answer.
Response JsonResponse(unsigned status, const std::string& body, unsigned version, bool keep_alive);
Response ErrorResponse(const Status& st, unsigned version, bool keep_alive);

}  // namespace kiln::gateway
