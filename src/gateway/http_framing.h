// DESIGN: Kiln's own checks of a request's framing (RFC 9112 §3, §5, §6), run after
// Beast has parsed the header and before anything routes or reads a body. Beast 1.74
// frames a body by rules older than RFC 9112: it treats `Transfer-Encoding: xchunked`
// or `chunked, identity` as no body at all, folds obs-fold lines silently, and takes
// any Host. Those differences are what request smuggling lives on, so every request
// whose framing is not the one unambiguous reading is refused here, and the server
// closes the connection after the refusal (the rest of the bytes cannot be trusted).
// Pure functions of their input: no I/O, no state; safe from any thread and for a
// fuzz target.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gateway/http_limits.h"
#include "gateway/http_message.h"

namespace kiln::gateway {

// Why a request is refused before it is routed: the HTTP status to answer (400,
// 408, 414, 431, 501, 505) and a message for the client. Nothing: it may go on.
using Refusal = std::optional<HttpRefusal>;

// The parsed header's framing: Transfer-Encoding (only a final `chunked`; 501 for a
// coding Kiln does not implement, 400 for a list that does not end in chunked), TE
// in HTTP/1.0, TE together with Content-Length, Content-Length repeated or not a
// plain decimal, Host missing (HTTP/1.1), repeated or malformed, a major version
// other than 1 (505), a target that is not origin-form (or `*` for OPTIONS).
Refusal CheckFraming(const RequestHeader& header);

// The size of a header block, complete or still arriving (raw bytes from the request
// line on): 414 for a request line over its limit, 431 for fields over theirs in
// bytes or in number.
Refusal CheckHeaderSize(std::string_view raw, const HttpLimits& limits);

// The raw bytes of the header block (request line to the empty line), as read: no
// obs-fold (a line that starts with SP or HTAB), which Beast would fold silently.
Refusal CheckHeaderBytes(std::string_view raw);

}  // namespace kiln::gateway
