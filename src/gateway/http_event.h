// DESIGN: translation between HTTP and the handler contract (SPEC §3). An incoming
// request becomes the Lambda function-URL / API Gateway HTTP API v2.0 event; an
// invocation's outcome becomes the HTTP response (the handler's statusCode dict, or
// 200 with its JSON, or the failure's status with {"errorType","errorMessage"}).
#pragma once

#include <cstdint>
#include <string>

#include "dispatch/dispatcher.h"
#include "store/store.h"
#include "gateway/http_server.h"

namespace kiln::gateway {

struct EventContext {
  std::string route_key;  // "POST /predict"
  std::string source_ip;
  std::string request_id;
  int64_t epoch_ms = 0;
};

std::string BuildHttpEvent(const Request& req, const EventContext& ctx);

// Is this body text (sent as is) or binary (sent base64-encoded)?
bool IsTextBody(const std::string& content_type, const std::string& body);

Response RenderInvocation(const dispatch::Invocation& inv, unsigned version);

// The answer to an async invocation: 202 {"run_id"} with Location: /v1/runs/<id>, or
// the error (429 past the queue's bound).
Response RenderAccepted(const Result<Enqueued>& queued, unsigned version);

// Whether a request asks to run in the background: X-Kiln-Invocation-Type: Event.
bool AsksForAsync(const RequestHeader& header);

}  // namespace kiln::gateway
