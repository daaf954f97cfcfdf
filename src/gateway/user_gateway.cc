#include "gateway/user_gateway.h"

#include "common/crypto.h"
#include "common/time_util.h"
#include "gateway/credentials.h"
#include "gateway/http_event.h"

namespace kiln::gateway {
namespace {

Response Refuse(Code code, std::string message, unsigned version) {
  return ErrorResponse(Status(code, std::move(message)), version, true);
}

}  // namespace

std::variant<UserGateway::Target, Response> UserGateway::Resolve(const RequestHeader& h, const RequestInfo& info) {
  std::string target(h.target());
  std::string path = target.substr(0, target.find('?'));
  std::string method(h.method_string());
  RouteMatch m = catalog_->Match(method, path);
  if (m.route == nullptr) {
    if (m.other_methods.empty()) return Refuse(Code::kNotFound, "no route for " + path, h.version());
    Response res = Refuse(Code::kMethodNotAllowed, method + " is not allowed on " + path, h.version());
    std::string allow;
    for (const auto& o : m.other_methods) allow += (allow.empty() ? "" : ", ") + o;
    res.set(http::field::allow, allow);
    return res;
  }
  const Route& route = *m.route;
  std::optional<Authorizer> authorizer;
  if (route.auth == RouteAuth::kKey) {
    std::string_view presented = PresentedKey(h);
    if (presented.empty()) {
      Response res = Refuse(Code::kUnauthenticated, "this route needs an API key", h.version());
      res.set(http::field::www_authenticate, "Bearer");
      return res;
    }
    if (auto wait = failures_->RetryAfter(info.remote_ip)) return TooManyFailures(*wait, h.version());
    const ApiKeyRecord* key = catalog_->Authenticate(presented, NowEpochMs());
    if (key == nullptr) {
      failures_->Failed(info.remote_ip);
      return Refuse(Code::kUnauthenticated, "the API key is not valid", h.version());
    }
    if (!auth::KeyAllowsRoute(*key, route.path, route.function)) {
      return Refuse(Code::kPermissionDenied, "this key is not allowed on " + route.path, h.version());
    }
    authorizer = Authorizer{key->id, key->name};
  }
  const FunctionVersion* fv = catalog_->Find(route.function, route.version);
  if (fv == nullptr) {
    return Refuse(Code::kNotFound, "the route's function " + route.function + " has no such version",
                  h.version());
  }
  return Target{route.method + " " + route.path, *fv, route.mode == RouteMode::kAsync, std::move(authorizer),
                route.errors};
}

std::optional<Response> UserGateway::Admit(const RequestHeader& header, const RequestInfo& info,
                                           std::any* admitted) {
  auto resolved = Resolve(header, info);
  if (auto* refusal = std::get_if<Response>(&resolved)) return std::move(*refusal);
  *admitted = std::move(std::get<Target>(resolved));
  return std::nullopt;
}

Response UserGateway::TooLarge(const RequestHeader& header, const RequestInfo& info) {
  const Target* admitted = std::any_cast<Target>(&info.admitted);
  KILN_CHECK(admitted != nullptr);
  const Target& t = *admitted;
  std::string why = "the request body is over the limit of " + std::to_string(max_body_) + " bytes";
  int64_t length = 0;
  if (auto cl = header.find(http::field::content_length); cl != header.end()) {
    length = std::atoll(std::string(cl->value()).c_str());
  }
  std::string run_id = RandomUuid();
  dispatcher_->RecordRejected(t.fv, run_id, "http", t.route_key, length, why);
  Response res = Refuse(Code::kPayloadTooLarge, why, header.version());
  res.set("X-Kiln-Run-Id", run_id);
  return res;
}

asio::awaitable<Response> UserGateway::Handle(Request req, const RequestInfo& info) {
  // Admit decided route, key and scope on the header; they are not checked twice.
  const Target* admitted = std::any_cast<Target>(&info.admitted);
  KILN_CHECK(admitted != nullptr);
  Target t = *admitted;
  EventContext ctx{t.route_key, info.remote_ip, RandomUuid(), NowEpochMs(), std::move(t.authorizer)};
  if (t.async || AsksForAsync(req.base())) {
    std::string key;
    if (auto h = req.find("Idempotency-Key"); h != req.end()) key = std::string(h->value());
    const int64_t bytes = static_cast<int64_t>(req.body().size());
    // Named, not a braced temporary in the co_await: GCC 12 destroys such a temporary
    // argument of a coroutine twice.
    runs::AsyncRequest request{std::move(t.fv), BuildHttpEvent(req, ctx), "async", ctx.route_key, std::move(key),
                               bytes};
    Result<Enqueued> queued = co_await async_->Enqueue(std::move(request));
    co_return RenderAccepted(queued, req.version());
  }
  dispatch::InvocationRequest ir{std::move(t.fv), BuildHttpEvent(req, ctx), ctx.request_id, "http",
                                 ctx.route_key, static_cast<int64_t>(req.body().size())};
  dispatch::Invocation inv = co_await dispatcher_->Invoke(std::move(ir));
  co_return RenderInvocation(inv, req.version(), t.errors);
}

}  // namespace kiln::gateway
