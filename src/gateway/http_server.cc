#include "gateway/http_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace kiln::gateway {
namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr uint32_t kHeaderLimit = 64 * 1024;
constexpr auto kLingerTimeout = std::chrono::seconds(5);
// Errors of this category mean the bytes were not HTTP; the others are the socket's.
const boost::system::error_category& kHttpErrors =
    http::make_error_code(http::error::end_of_stream).category();

Response BadRequest(const std::string& why) {
  return ErrorResponse(InvalidArgument("malformed HTTP request: " + why), 11, false);
}

}  // namespace

Response JsonResponse(unsigned status, const std::string& body, unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = body;
  res.prepare_payload();
  return res;
}

Response ErrorResponse(const Status& st, unsigned version, bool keep_alive) {
  nlohmann::json body = {{"error", {{"code", CodeName(st.code())}, {"message", st.message()}}}};
  return JsonResponse(HttpStatusOf(st.code()), body.dump(), version, keep_alive);
}

Status HttpServer::Listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("listen address '" + host + "': " + ec.message());
  asio::ip::tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Internal("listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  return OkStatus();
}

void HttpServer::Stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto* socket : connections_) socket->close(ec);
}

asio::awaitable<void> HttpServer::AcceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    asio::ip::tcp::socket socket = co_await acceptor_.async_accept(
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      spdlog::warn("accept: {}", ec.message());
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

// Closing a socket with unread bytes sends a reset, and the reset can destroy our
// answer in the client's buffers before the client reads it (it is still busy
// sending the body we refused). So: stop sending, then read and drop what comes,
// for a bounded time, until the client closes too.
asio::awaitable<void> HttpServer::LingeringClose(boost::beast::tcp_stream& stream) {
  boost::system::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  stream.expires_after(kLingerTimeout);
  char sink[64 * 1024];
  while (!ec) {
    co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> HttpServer::Serve(asio::ip::tcp::socket socket) {
  RequestInfo info;
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (!ec) info.remote_ip = remote.address().to_string();
  boost::beast::tcp_stream stream(std::move(socket));
  boost::beast::flat_buffer buffer;
  connections_.insert(&stream.socket());
  struct Forget {
    std::set<asio::ip::tcp::socket*>& set;
    asio::ip::tcp::socket* socket;
    ~Forget() { set.erase(socket); }
  } forget{connections_, &stream.socket()};

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    // No body cap yet: the header decides which one applies (and Beast would
    // otherwise refuse a large Content-Length with its 1 MiB default as bad HTTP).
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    stream.expires_after(kIdleTimeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::end_of_stream || (ec && ec.category() != kHttpErrors)) {
      break;  // the peer left, or the socket failed: nobody to answer
    }
    if (ec) {
      co_await http::async_write(stream, BadRequest(ec.message()),
                                 asio::redirect_error(asio::use_awaitable, ec));
      break;
    }
    const RequestHeader& header = parser.get().base();
    size_t limit = handler_->BodyLimit(header);
    auto length = parser.content_length();
    bool too_large = length && *length > limit;
    if (!too_large) {
      parser.body_limit(limit);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      too_large = ec == http::error::body_limit;
      if (ec && !too_large) {
        if (ec.category() == kHttpErrors && ec != http::error::partial_message) {
          co_await http::async_write(stream, BadRequest(ec.message()),
                                     asio::redirect_error(asio::use_awaitable, ec));
        }
        break;
      }
    }
    stream.expires_never();
    if (too_large) {
      // The unread body is still on the wire: answer, then close, lingering.
      Response res = co_await handler_->TooLarge(parser.get().base(), info);
      res.keep_alive(false);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      co_await LingeringClose(stream);
      co_return;
    }
    Request req = parser.release();
    bool keep_alive = req.keep_alive();
    Response res;
    try {
      res = co_await handler_->Handle(std::move(req), info);
    } catch (const std::exception& e) {
      // A bug, not bad input: answer 500 and keep serving everyone else.
      spdlog::error("handler threw: {}", e.what());
      res = ErrorResponse(Internal(std::string("internal error: ") + e.what()), 11, false);
    }
    res.keep_alive(keep_alive && res.keep_alive());
    res.set(http::field::server, "kiln");
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace kiln::gateway
