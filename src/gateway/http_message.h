// DESIGN: the HTTP messages the front door reads and writes (Beast's types, named
// once) and the answers every part of it builds the same way: a JSON body, an error
// as {"error":{"code","message"}}, and the server's own refusals. No I/O here, so
// the pure checks (http_framing, http_event) and their fuzz targets need only this.
#pragma once

#include <boost/beast/http.hpp>
#include <string>

#include "common/status.h"

namespace kiln::gateway {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using RequestHeader = http::request_header<>;

// A request the server refuses by itself (framing, sizes, timeouts): the HTTP status
// (400, 408, 413, 414, 431, 500, 501, 505) and a message for the client.
struct HttpRefusal {
  unsigned status;
  std::string message;
};
// Its answer, {"error":{"code","message"}} like every other error.
Response RefusalResponse(const HttpRefusal& refusal);

// A JSON response, the shape of every control-API answer.
Response JsonResponse(unsigned status, const std::string& body, unsigned version, bool keep_alive);
Response ErrorResponse(const Status& st, unsigned version, bool keep_alive);

}  // namespace kiln::gateway
