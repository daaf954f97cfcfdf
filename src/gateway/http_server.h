// DESIGN: the daemon's HTTP/1.1 front door, on Boost.Beast. One acceptor; one
// coroutine per connection (HttpConnection), all on the I/O thread. Each request
// goes through two phases:
//   header: read under a header timeout and size limits (414/431), checked for
//     unambiguous framing (CheckFraming: 400/501/505), then the handler's Admit
//     decides route, key and scope from the header alone (404/405/401/403/429) and
//     BodyLimit the size (413). A refusal is answered at once; a body left unread
//     closes the connection (lingering, bounded), so it is never read into memory.
//   body: read under a timeout between reads (408) into memory, or, when Admit asks,
//     into a file under a spool folder; then Handle, and the answer is written under
//     a write timeout. Keep-alive loops, idle-bounded, up to a request count.
// Connections are capped per node and per source address (over the cap: closed at
// once); accept backs off when the process runs out of file descriptors, and says so
// in the log at most once a second. With TLS (tls_context.h) the listener speaks
// only TLS: a connection's handshake runs under the header timeout, and a client that
// does not complete one (plain HTTP included) is closed without an answer. It knows
// nothing of Kiln: routing and policy belong to the HttpHandler.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <any>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/status.h"
#include "gateway/http_limits.h"
#include "gateway/http_message.h"
#include "gateway/tls_context.h"
#include "gateway/keyed_limiter.h"
#include "gateway/traffic_counters.h"

namespace kiln::gateway {

namespace asio = boost::asio;

struct RequestInfo {
  std::string remote_ip;
  // When Admit spooled the body: its file (the request's body() is then empty). The
  // server removes the file once the answer is written.
  std::string body_file;
  // What the handler's Admit learned from this request's header (of the handler's own
  // type), so Handle does not decide it again.
  std::any admitted;
};

// A response written as it is produced (server-sent events): its head, then each
// piece Next() yields, as one chunk each, until it yields nothing. The connection
// ends with it. A piece that cannot be written within the write timeout ends it too,
// and so does the client leaving (or the server stopping): the connection then calls
// Cancel(), after which a pending or later Next() yields nothing at once.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual Response Head() = 0;  // status and headers; its body is not sent
  virtual asio::awaitable<std::optional<std::string>> Next() = 0;
  virtual void Cancel() = 0;
};

// What the header phase decided for one request.
struct Admission {
  std::optional<Response> refusal;  // answered at once; the body is never read
  std::string spool_dir;            // non-empty: the body goes to a file there, not to memory
  std::optional<KeyedLimiter::Lease> hold;  // kept until the answer is written (an upload slot)
  std::any admitted;                         // handed to Handle as RequestInfo::admitted
  // Set: the answer is this stream (a GET without a body), and Handle is not called.
  std::unique_ptr<ResponseStream> stream;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Decides from the header alone, before any body byte is read.
  virtual Admission Admit(const RequestHeader& header, const RequestInfo& info) = 0;
  // The most body bytes this request may carry.
  virtual size_t BodyLimit(const RequestHeader& header) = 0;
  // The answer to a request whose body is over its limit.
  virtual asio::awaitable<Response> TooLarge(const RequestHeader& header, const RequestInfo& info) = 0;
  virtual asio::awaitable<Response> Handle(Request req, const RequestInfo& info) = 0;
};

class HttpServer {
 public:
  // With `tls`, every connection is TLS (its handshake under the header timeout) and
  // plain HTTP is not spoken; `tls` must outlive the server. `counters` (borrowed)
  // counts what the server sees.
  HttpServer(asio::io_context& io, HttpHandler* handler, HttpLimits limits, TrafficCounters* counters,
             const TlsContext* tls = nullptr);

  Status Listen(const std::string& host, uint16_t port);
  // Stops accepting and closes every connection, so the I/O loop can run dry.
  void Stop();

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> ServeTls(asio::ip::tcp::socket socket, KeyedLimiter::Lease address);
  template <class Stream>
  asio::awaitable<void> ServeConnection(Stream stream, KeyedLimiter::Lease address);
  // One log line a second at most, with the count of those left out.
  void WarnThrottled(const std::string& what);

  asio::io_context& io_;
  HttpHandler* handler_;
  HttpLimits limits_;
  TrafficCounters* counters_;
  const TlsContext* tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::set<asio::ip::tcp::socket*> connections_;  // open sessions, closed by Stop()
  KeyedLimiter per_address_;
  std::chrono::steady_clock::time_point last_warning_{};
  size_t suppressed_warnings_ = 0;
};

}  // namespace kiln::gateway
