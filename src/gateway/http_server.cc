#include "gateway/http_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "gateway/http_connection.h"
#include "gateway/socket_deadline.h"

namespace kiln::gateway {
namespace {

constexpr auto kFirstBackoff = std::chrono::milliseconds(50);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);

// Out of descriptors or kernel memory: accepting again at once would fail again.
bool OutOfResources(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, HttpHandler* handler, HttpLimits limits, TrafficCounters* counters,
                       const TlsContext* tls)
    : io_(io),
      handler_(handler),
      limits_(limits),
      counters_(counters),
      tls_(tls),
      acceptor_(io),
      per_address_(limits.max_connections_per_address) {}

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

void HttpServer::WarnThrottled(const std::string& what) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_warning_ < std::chrono::seconds(1)) {
    ++suppressed_warnings_;
    return;
  }
  if (suppressed_warnings_ > 0) {
    spdlog::warn("{} ({} more such lines left out in the last second)", what, suppressed_warnings_);
  } else {
    spdlog::warn("{}", what);
  }
  last_warning_ = now;
  suppressed_warnings_ = 0;
}

asio::awaitable<void> HttpServer::AcceptLoop() {
  asio::steady_timer backoff_timer(io_);
  auto backoff = kFirstBackoff;
  for (;;) {
    boost::system::error_code ec;
    asio::ip::tcp::socket socket = co_await acceptor_.async_accept(
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      counters_->AcceptFailed();
      WarnThrottled("accept(): " + ec.message());
      if (OutOfResources(ec)) {
        // The connection stays in the backlog; try again once descriptors may be free.
        backoff_timer.expires_after(backoff);
        co_await backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
      }
      continue;
    }
    backoff = kFirstBackoff;
    counters_->Accepted();
    auto remote = socket.remote_endpoint(ec);
    const std::string address = ec ? "" : remote.address().to_string();
    if (connections_.size() >= limits_.max_connections) {
      counters_->RefusedConnection(TrafficCounters::Refused::kNodeCap);
      WarnThrottled("connection refused: " + std::to_string(connections_.size()) +
                    " open, the node's cap (kiln serve --max-connections)");
      socket.close(ec);
      continue;
    }
    std::optional<KeyedLimiter::Lease> lease = per_address_.TryAcquire(address);
    if (!lease) {
      counters_->RefusedConnection(TrafficCounters::Refused::kAddressCap);
      WarnThrottled("connection from " + address + " refused: " + std::to_string(per_address_.cap()) +
                    " open, the per-address cap (kiln serve --max-connections-per-ip)");
      socket.close(ec);
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    if (tls_ != nullptr) {
      asio::co_spawn(io_, ServeTls(std::move(socket), std::move(*lease)), asio::detached);
    } else {
      asio::co_spawn(io_, ServeConnection(std::move(socket), std::move(*lease)), asio::detached);
    }
  }
}

template <class Stream>
asio::awaitable<void> HttpServer::ServeConnection(Stream stream, KeyedLimiter::Lease address) {
  HttpConnection<Stream> connection(std::move(stream), std::move(address), handler_, limits_, counters_);
  connections_.insert(&connection.socket());
  counters_->Opened();
  struct Forget {
    std::set<asio::ip::tcp::socket*>& set;
    asio::ip::tcp::socket* socket;
    TrafficCounters* counters;
    ~Forget() {
      set.erase(socket);
      counters->Closed();
    }
  } forget{connections_, &connection.socket(), counters_};
  co_await connection.Run();
}

asio::awaitable<void> HttpServer::ServeTls(asio::ip::tcp::socket socket, KeyedLimiter::Lease address) {
  // The context of the moment, kept by this connection even if a reload swaps it.
  std::shared_ptr<asio::ssl::context> context = tls_->current();
  asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(socket), *context);
  boost::system::error_code ec;
  {
    connections_.insert(&stream.next_layer());
    SocketDeadline deadline(stream.next_layer());
    deadline.Arm(limits_.header_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    deadline.Disarm();
    connections_.erase(&stream.next_layer());
  }
  if (ec) {
    spdlog::debug("TLS handshake failed: {}", ec.message());
    co_return;
  }
  co_await ServeConnection(std::move(stream), std::move(address));
}

}  // namespace kiln::gateway
