// DESIGN: user routes: every path outside /v1/, /ui/, /metrics and /healthz. The
// route and the key are checked on the header alone (404, 405, 401, 403), before the
// body is read, so a refused request costs no container and an oversized one is
// recorded `rejected` without touching one. An accepted request becomes a v2.0 event
// and goes to the dispatcher, or, on an async route or with X-Kiln-Invocation-Type:
// Event, into the async queue (202; an Idempotency-Key header dedupes it).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <any>
#include <optional>
#include <variant>

#include "auth/failure_limiter.h"
#include "dispatch/dispatcher.h"
#include "gateway/http_event.h"
#include "gateway/http_server.h"
#include "registry/catalog.h"
#include "runs/async_runner.h"

namespace kiln::gateway {

class UserGateway {
 public:
  UserGateway(Catalog* catalog, auth::FailureLimiter* failures, dispatch::Dispatcher* dispatcher,
              runs::AsyncRunner* async, size_t max_body)
      : catalog_(catalog), failures_(failures), dispatcher_(dispatcher), async_(async), max_body_(max_body) {}

  size_t max_body() const { return max_body_; }
  // The refusal of a request by its header alone (404, 405, 401, 403, 429), or nothing;
  // then `admitted` holds the route's target, which TooLarge and Handle expect in
  // RequestInfo::admitted.
  std::optional<Response> Admit(const RequestHeader& header, const RequestInfo& info, std::any* admitted);
  asio::awaitable<Response> Handle(Request req, const RequestInfo& info);
  Response TooLarge(const RequestHeader& header, const RequestInfo& info);

 private:
  struct Target {
    std::string route_key;  // "POST /predict"
    FunctionVersion fv;     // a copy: the catalog may change while the request runs
    bool async = false;     // the route's mode
    std::optional<Authorizer> authorizer;  // the key that was accepted, on keyed routes
    RouteErrors errors = RouteErrors::kDetailed;
  };
  // The route's target, or the refusal to send.
  std::variant<Target, Response> Resolve(const RequestHeader& header, const RequestInfo& info);

  Catalog* catalog_;
  auth::FailureLimiter* failures_;
  dispatch::Dispatcher* dispatcher_;
  runs::AsyncRunner* async_;
  size_t max_body_;
};

}  // namespace kiln::gateway
