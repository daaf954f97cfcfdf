#include "gateway/http_connection.h"

#include <unistd.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <limits>
#include <type_traits>
#include <spdlog/spdlog.h>

#include "common/crypto.h"

namespace kiln::gateway {
namespace {

constexpr auto kLingerTimeout = std::chrono::seconds(5);
// For the peer's close_notify, once Kiln has sent its own.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(2);
constexpr size_t kReadChunk = 16u << 10;
// Errors of this category mean the bytes were not HTTP; the others are the socket's.
const boost::system::error_category& kHttpErrors = http::make_error_code(http::error::end_of_stream).category();

auto Redirect(boost::system::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

std::string_view Bytes(const boost::beast::flat_buffer& b) {
  auto data = b.data();
  return {static_cast<const char*>(data.data()), data.size()};
}

std::string Seconds(std::chrono::seconds s) { return std::to_string(s.count()) + " s"; }

// A spooled body's file, removed when its request is done.
struct SpoolFile {
  std::string path;
  ~SpoolFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

}  // namespace

template <class Stream>
HttpConnection<Stream>::HttpConnection(Stream stream, KeyedLimiter::Lease address, HttpHandler* handler,
                                       const HttpLimits& limits, TrafficCounters* counters)
    : stream_(std::move(stream)), address_(std::move(address)), handler_(handler), limits_(limits),
      counters_(counters), deadline_(socket()) {
  boost::system::error_code ec;
  auto remote = socket().remote_endpoint(ec);
  if (!ec) info_.remote_ip = remote.address().to_string();
}

// Beast parses a header only once all of it is in the buffer, and consumes nothing
// before; so until it does, the buffer holds exactly the header bytes so far.
template <class Stream>
asio::awaitable<typename HttpConnection<Stream>::HeaderRead> HttpConnection<Stream>::ReadHeader(Parser& parser, bool first) {
  bool started = buffer_.size() > 0;
  // Idle until the request's first byte: the keep-alive time between requests.
  deadline_.Arm(started || first ? limits_.header_timeout : limits_.keepalive);
  for (;;) {
    if (started) {
      boost::system::error_code ec;
      const size_t used = parser.put(buffer_.data(), ec);
      if (!ec) {
        deadline_.Disarm();
        std::string_view raw = Bytes(buffer_).substr(0, used);
        Refusal refusal = CheckHeaderSize(raw, limits_);
        if (!refusal) refusal = CheckHeaderBytes(raw);
        if (!refusal) refusal = CheckFraming(parser.get().base());
        buffer_.consume(used);
        co_return HeaderRead{false, std::move(refusal)};
      }
      Refusal size = CheckHeaderSize(Bytes(buffer_), limits_);
      if (size || ec != http::error::need_more) {
        deadline_.Disarm();
        co_return HeaderRead{false, size ? *size : HttpRefusal{400, "malformed HTTP request: " + ec.message()}};
      }
    }
    boost::system::error_code ec;
    const size_t n = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), Redirect(ec));
    buffer_.commit(n);
    if (ec) {
      const bool timed_out = deadline_.expired();
      deadline_.Disarm();
      // An idle connection is closed silently; a header begun and not finished gets 408.
      if (timed_out && started) {
        co_return HeaderRead{false, HttpRefusal{408, "the header did not arrive within " +
                                                         Seconds(limits_.header_timeout) +
                                                         " (kiln serve --header-timeout-s)"}};
      }
      co_return HeaderRead{true, std::nullopt};
    }
    if (!started && n > 0) {
      started = true;
      deadline_.Arm(limits_.header_timeout);
    }
  }
}

template <class Stream>
template <class BodyParser>
asio::awaitable<typename HttpConnection<Stream>::BodyRead> HttpConnection<Stream>::ReadBody(BodyParser& parser) {
  boost::system::error_code ec;
  while (!ec && !parser.is_done()) {
    deadline_.Arm(limits_.body_timeout);
    co_await http::async_read_some(stream_, buffer_, parser, Redirect(ec));
  }
  const bool timed_out = deadline_.expired();
  deadline_.Disarm();
  if (!ec) co_return BodyRead::kDone;
  if (timed_out) co_return BodyRead::kTimedOut;
  if (ec == http::error::body_limit) co_return BodyRead::kTooLarge;
  if (ec.category() == kHttpErrors && ec != http::error::partial_message && ec != http::error::end_of_stream) {
    co_return BodyRead::kMalformed;
  }
  co_return BodyRead::kGone;
}

template <class Stream>
asio::awaitable<typename HttpConnection<Stream>::BodyRead> HttpConnection<Stream>::SpoolBody(
    Parser& parser, const std::string& dir, std::string* path, Request* req) {
  http::request_parser<http::file_body> spool(std::move(parser));
  *path = dir + "/upload-" + RandomAlnum(16);
  boost::system::error_code ec;
  spool.get().body().open(path->c_str(), boost::beast::file_mode::write_new, ec);
  BodyRead read = BodyRead::kSpoolFailed;
  if (ec) {
    spdlog::error("spooling an upload: open({}): {}", *path, ec.message());
    path->clear();
  } else {
    read = co_await ReadBody(spool);
  }
  // The header goes on in memory; the body stays in the file (closed here).
  auto message = spool.release();
  *req = Request(std::move(message.base()));
  co_return read;
}

template <class Stream>
asio::awaitable<bool> HttpConnection<Stream>::Write(Response& res) {
  boost::system::error_code ec;
  res.set(http::field::server, "kiln");
  if (res.version() > 11) res.version(11);  // an HTTP/1.2 request is served as 1.1
  counters_->Answered(res.result_int());
  deadline_.Arm(limits_.write_timeout);
  co_await http::async_write(stream_, res, Redirect(ec));
  deadline_.Disarm();
  co_return !ec;
}

template <class Stream>
asio::awaitable<void> HttpConnection<Stream>::WriteStream(ResponseStream& source) {
  Response head = source.Head();
  http::response<http::empty_body> res{head.result(), 11};
  for (const auto& field : head) res.set(field.name_string(), field.value());
  res.set(http::field::server, "kiln");
  res.keep_alive(false);
  res.chunked(true);
  counters_->Answered(res.result_int());
  http::response_serializer<http::empty_body> serializer{res};
  boost::system::error_code ec;
  deadline_.Arm(limits_.write_timeout);
  co_await http::async_write_header(stream_, serializer, Redirect(ec));
  deadline_.Disarm();
  // The client says nothing more on this connection: anything readable is its leaving
  // (or the server closing the socket), which ends the stream.
  auto gone = std::make_shared<bool>(false);
  socket().async_wait(asio::ip::tcp::socket::wait_read, [gone, &source](boost::system::error_code) {
    *gone = true;
    source.Cancel();
  });
  while (!ec && !*gone) {
    std::optional<std::string> piece = co_await source.Next();
    deadline_.Arm(limits_.write_timeout);
    if (piece) {
      co_await asio::async_write(stream_, http::make_chunk(asio::buffer(*piece)), Redirect(ec));
    } else {
      co_await asio::async_write(stream_, http::make_chunk_last(), Redirect(ec));
    }
    deadline_.Disarm();
    if (!piece) break;
  }
  boost::system::error_code ignored;
  socket().cancel(ignored);  // the wait above, so its handler runs before `source` goes
  while (!*gone) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

// Closing a socket with unread bytes sends a reset, and the reset can destroy our
// answer in the client's buffers before the client reads it (it is still busy
// sending the body we refused). So: stop sending, then read and drop what comes,
// for a bounded time, until the client closes too. Over TLS the dropped bytes are
// read below TLS, undecrypted, and no close_notify is sent: the answer is delimited
// and says Connection: close, so the client has all of it.
template <class Stream>
asio::awaitable<void> HttpConnection<Stream>::LingeringClose() {
  boost::system::error_code ec;
  socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  deadline_.Arm(kLingerTimeout);
  std::vector<char> sink(kReadChunk);
  while (!ec) co_await socket().async_read_some(asio::buffer(sink), Redirect(ec));
  deadline_.Disarm();
}

template <class Stream>
asio::awaitable<void> HttpConnection<Stream>::Shutdown() {
  boost::system::error_code ec;
  if constexpr (!std::is_same_v<Stream, asio::ip::tcp::socket>) {
    deadline_.Arm(kTlsShutdownTimeout);
    co_await stream_.async_shutdown(Redirect(ec));
    deadline_.Disarm();
  }
  socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

template <class Stream>
asio::awaitable<void> HttpConnection<Stream>::Close(Response& res) {
  res.keep_alive(false);
  const bool written = co_await Write(res);
  if (written) co_await LingeringClose();
}

template <class Stream>
asio::awaitable<void> HttpConnection<Stream>::RefuseBody(Response& res) {
  counters_->BodyRefused();
  co_await Close(res);
}

template <class Stream>
asio::awaitable<void> HttpConnection<Stream>::Run() {
  for (size_t served = 0; served < limits_.max_requests_per_connection; ++served) {
    Parser parser;
    parser.header_limit(static_cast<uint32_t>(limits_.max_request_line + limits_.max_header_bytes + 64));
    // No body cap yet: the header decides which one applies.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    HeaderRead header = co_await ReadHeader(parser, served == 0);
    if (header.gone) break;
    if (header.refusal) {
      Response res = RefusalResponse(*header.refusal);
      co_await Close(res);
      co_return;
    }

    const RequestHeader& head = parser.get().base();
    Admission admission = handler_->Admit(head, info_);
    const bool body_unread = !parser.is_done();
    if (admission.refusal) {
      // Never read a refused body: with one on the wire, the connection ends here.
      if (body_unread) {
        co_await RefuseBody(*admission.refusal);
        co_return;
      }
      Response& res = *admission.refusal;
      res.keep_alive(res.keep_alive() && parser.keep_alive() && served + 1 < limits_.max_requests_per_connection);
      if (!co_await Write(res) || !res.keep_alive()) break;
      continue;
    }
    if (admission.stream) {
      if (body_unread) {
        Response res = RefusalResponse({400, "a streamed answer takes no request body"});
        co_await RefuseBody(res);
        co_return;
      }
      co_await WriteStream(*admission.stream);
      break;
    }
    info_.admitted = std::move(admission.admitted);
    const size_t limit = handler_->BodyLimit(head);
    if (auto length = parser.content_length(); length && *length > limit) {
      Response res = co_await handler_->TooLarge(head, info_);
      co_await RefuseBody(res);
      co_return;
    }
    parser.body_limit(limit);
    Request req;
    SpoolFile spooled;
    BodyRead read = BodyRead::kDone;
    if (!admission.spool_dir.empty() && body_unread) {
      read = co_await SpoolBody(parser, admission.spool_dir, &spooled.path, &req);
    } else {
      read = co_await ReadBody(parser);
      req = parser.release();
    }
    if (read == BodyRead::kGone) co_return;
    if (read != BodyRead::kDone) {
      Response res;
      switch (read) {
        case BodyRead::kTooLarge:
          counters_->BodyRefused();  // cut off at its limit, the rest unread
          res = co_await handler_->TooLarge(req.base(), info_);
          break;
        case BodyRead::kTimedOut:
          res = RefusalResponse(
              {408, "no body bytes for " + Seconds(limits_.body_timeout) + " (kiln serve --body-timeout-s)"});
          break;
        case BodyRead::kMalformed: res = RefusalResponse({400, "malformed HTTP request body"}); break;
        default: res = RefusalResponse({500, "the upload could not be stored"}); break;
      }
      co_await Close(res);
      co_return;
    }
    const bool keep_alive = req.keep_alive() && served + 1 < limits_.max_requests_per_connection;
    info_.body_file = spooled.path;
    Response res;
    try {
      res = co_await handler_->Handle(std::move(req), info_);
    } catch (const std::exception& e) {
      // A bug, not bad input: answer 500 and keep serving everyone else.
      spdlog::error("handler threw: {}", e.what());
      res = ErrorResponse(Internal(std::string("internal error: ") + e.what()), 11, false);
    }
    info_.body_file.clear();
    info_.admitted.reset();
    res.keep_alive(keep_alive && res.keep_alive());
    if (!co_await Write(res) || !res.keep_alive()) break;
  }
  co_await Shutdown();
}

template class HttpConnection<asio::ip::tcp::socket>;
template class HttpConnection<asio::ssl::stream<asio::ip::tcp::socket>>;

}  // namespace kiln::gateway
