// DESIGN: translation between HTTP and the handler contract (SPEC §3). An incoming
// request becomes the Lambda function-URL / API Gateway HTTP API v2.0 event; an
// invocation's outcome becomes the HTTP response (the handler's statusCode dict, or
// 200 with its JSON, or the failure's status with {"errorType","errorMessage"}).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dispatch/dispatcher.h"
#include "store/store.h"
#include "gateway/http_message.h"

namespace kiln::gateway {

// The key a keyed route accepted: the event's requestContext.authorizer.kiln, in place
// of the key itself (Lambda's authorizer context).
struct Authorizer {
  std::string key_id;
  std::string key_name;
};

struct EventContext {
  std::string route_key;  // "POST /predict"
  std::string source_ip;
  std::string request_id;
  int64_t epoch_ms = 0;
  std::optional<Authorizer> authorizer;  // unset on auth: none routes
};

// The event never carries the caller's credentials: Authorization and X-Api-Key are
// left out of its headers (and so of what the async queue stores), on every route.

std::string BuildHttpEvent(const Request& req, const EventContext& ctx);

// Is this body text (sent as is) or binary (sent base64-encoded)?
bool IsTextBody(std::string_view content_type, const std::string& body);

// `errors`: a failed run's body is its {"errorType","errorMessage"} (detailed), or only
// {"error":"internal","run_id"} (generic: a public route's default, SPEC §3). Refusals
// of the platform's own (throttled, rejected) are the same either way.
Response RenderInvocation(const dispatch::Invocation& inv, unsigned version,
                          RouteErrors errors = RouteErrors::kDetailed);

// The answer to an async invocation: 202 {"run_id"} with Location: /v1/runs/<id>, or
// the error (429 past the queue's bound).
Response RenderAccepted(const Result<Enqueued>& queued, unsigned version);

// Whether a request asks to run in the background: X-Kiln-Invocation-Type: Event.
bool AsksForAsync(const RequestHeader& header);

}  // namespace kiln::gateway
