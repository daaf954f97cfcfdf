#include "cli/client.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace kiln::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

Client::Client(std::string base_url, std::string key, std::string ca_file)
    : key_(std::move(key)), ca_file_(std::move(ca_file)) {
  const size_t scheme_end = base_url.find("://");
  tls_ = scheme_end != std::string::npos && base_url.compare(0, scheme_end, "https") == 0;
  std::string rest = base_url.substr(scheme_end == std::string::npos ? 0 : scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  size_t colon = rest.rfind(':');
  host_ = colon == std::string::npos ? rest : rest.substr(0, colon);
  port_ = colon == std::string::npos ? (tls_ ? "443" : "80") : rest.substr(colon + 1);
}

template <class Stream>
Result<Reply> Client::Exchange(Stream& stream, const std::string& method, const std::string& path,
                               const std::string& body, const std::string& content_type,
                               const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, host_);
  req.set(http::field::user_agent, "kiln-cli");
  if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  // The daemon may refuse an upload before it has all of it (413): its answer is
  // still there to read after our write failed, and says more than the failure.
  beast::error_code write_error;
  http::write(stream, req, write_error);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::error_code read_error;
  http::read(stream, buf, parser, read_error);
  if (read_error) throw beast::system_error(write_error ? write_error : read_error);
  auto& res = parser.get();
  Reply r;
  r.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string name(f.name_string());
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    r.headers[name] = std::string(f.value());
  }
  r.body = std::move(res.body());
  return r;
}

// GET `path`, handing the body to `on_bytes` as it arrives (a stream's chunks), until
// the daemon ends it or `on_bytes` says stop. An answer other than 200 is read whole.
template <class Stream>
Result<Reply> Client::FollowExchange(Stream& stream, const std::string& path,
                                     const std::function<bool(std::string_view)>& on_bytes) {
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, host_);
  req.set(http::field::user_agent, "kiln-cli");
  req.set(http::field::accept, "text/event-stream");
  if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read_header(stream, buf, parser);
  Reply r;
  r.status = static_cast<int>(parser.get().result_int());
  char piece[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    beast::error_code ec;
    http::read_some(stream, buf, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw beast::system_error(ec);
    std::string_view got(piece, sizeof piece - parser.get().body().size);
    if (r.status != 200) {
      r.body.append(got);
    } else if (!got.empty() && !on_bytes(got)) {
      break;
    }
  }
  return r;
}

Result<Reply> Client::Follow(const std::string& path, const std::function<bool(std::string_view)>& on_bytes) {
  return Connected([&](auto& stream) { return FollowExchange(stream, path, on_bytes); });
}

Result<Reply> Client::Send(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type,
                           const std::map<std::string, std::string>& headers) {
  return Connected([&](auto& stream) { return Exchange(stream, method, path, body, content_type, headers); });
}

template <class ExchangeFn>
Result<Reply> Client::Connected(const ExchangeFn& exchange) {
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream tcp(io);
    tcp.connect(resolver.resolve(host_, port_));
    beast::error_code ec;
    if (!tls_) {
      Result<Reply> r = exchange(tcp);
      tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
      return r;
    }
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    if (ca_file_.empty()) {
      ctx.set_default_verify_paths();
    } else {
      ctx.load_verify_file(ca_file_);
    }
    ctx.set_verify_mode(ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), ctx);
    SSL_set_tlsext_host_name(stream.native_handle(), host_.c_str());  // SNI
    stream.set_verify_callback(ssl::host_name_verification(host_));
    stream.handshake(ssl::stream_base::client);
    Result<Reply> r = exchange(stream);
    stream.shutdown(ec);  // close_notify; the daemon may close first, which is fine
    return r;
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, "cannot reach kiln at " + std::string(tls_ ? "https://" : "") + host_ + ":" +
                                          port_ + " (" + e.what() + "); is `kiln serve` running?");
  }
}

std::string ErrorText(const Reply& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    return j["error"].value("message", r.body);
  }
  if (j.is_object() && j.contains("errorType")) {
    return j.value("errorType", "") + ": " + j.value("errorMessage", "");
  }
  return "HTTP " + std::to_string(r.status) + (r.body.empty() ? "" : ": " + r.body);
}

namespace {

// A Status holds one line, so the output that explains an error (a failed init's
// module-scope prints, in "error.logs") goes to stderr ahead of it.
void PrintErrorLogs(const Reply& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return;
  auto logs = j["error"].find("logs");
  if (logs == j["error"].end() || !logs->is_string()) return;
  const std::string& text = logs->get_ref<const std::string&>();
  if (text.empty()) return;
  std::fprintf(stderr, "--- logs ---\n%s%s", text.c_str(), text.back() == '\n' ? "" : "\n");
}

}  // namespace

Result<nlohmann::json> Client::Call(const std::string& method, const std::string& path,
                                    const nlohmann::json& body) {
  KILN_ASSIGN_OR_RETURN(Reply r, Send(method, path, body.is_null() ? "" : body.dump(),
                                      body.is_null() ? "" : "application/json"));
  if (r.status < 200 || r.status >= 300) {
    PrintErrorLogs(r);
    Code code = r.status == 404 ? Code::kNotFound : r.status == 409 ? Code::kConflict
                : r.status == 401 ? Code::kUnauthenticated : Code::kInvalidArgument;
    return Status(code, ErrorText(r));
  }
  if (r.body.empty()) return nlohmann::json(nullptr);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return Internal("the server's answer is not JSON: " + r.body.substr(0, 200));
  return j;
}

Result<nlohmann::json> PollUntil(Client& client, const std::string& path,
                                 const std::function<bool(const nlohmann::json&)>& done, double wait_s,
                                 const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", path));
  while (!done(j)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Internal(what + " is still " + j.value("status", "") + " after " +
                      std::to_string(static_cast<int64_t>(wait_s)) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    KILN_ASSIGN_OR_RETURN(j, client.Call("GET", path));
  }
  return j;
}

Result<Client> ClientFromEnvironment(const std::string& data_dir) {
  const char* url = std::getenv("KILN_URL");
  std::string key;
  if (const char* k = std::getenv("KILN_ADMIN_KEY"); k && *k) {
    key = k;
  } else {
    std::ifstream in(data_dir + "/admin.key");
    if (!in || !std::getline(in, key) || key.empty()) {
      return InvalidArgument("no admin key: set KILN_ADMIN_KEY or point --data at the daemon's data folder (" +
                             data_dir + "/admin.key not readable)");
    }
  }
  const char* ca = std::getenv("KILN_CA_CERT");
  return Client(url && *url ? url : "http://127.0.0.1:8080", key, ca ? ca : "");
}

}  // namespace kiln::cli
