// DESIGN: the handler's HTTP answer (a dict with statusCode, SPEC §3), checked before
// anything of it reaches a socket or a run record. A handler is not trusted to write
// HTTP: its status must be an integer 100-599, each header name an RFC 9110 token,
// and no header value or cookie may carry CR, LF or NUL (which would inject headers
// or split the response). A result that breaks a rule is refused as a whole, with the
// reason, and the dispatcher turns that into 502 Runtime.InvalidResult. Framing
// headers (Content-Length, Transfer-Encoding, Connection and the other hop-by-hop
// ones) are the daemon's to write: a handler's are dropped.
// Pure functions; any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace kiln::dispatch {

// The handler's HTTP answer when it returned a dict with statusCode.
struct HttpResult {
  int status = 200;
  std::map<std::string, std::string> headers;
  std::vector<std::string> cookies;
};

// The worker's "http" object ({"statusCode","headers","cookies"}), validated; an
// InvalidArgument naming the first rule broken otherwise.
Result<HttpResult> ParseHttpResult(const nlohmann::json& h);

// RFC 9110 §5.6.2: 1*tchar.
bool IsHeaderToken(const std::string& name);

}  // namespace kiln::dispatch
