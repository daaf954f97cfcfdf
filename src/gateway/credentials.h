// The API key a request presents: `Authorization: Bearer <key>` or `X-Api-Key: <key>`,
// and the answer to a source that failed too often.
#pragma once

#include <string>
#include <string_view>

#include "gateway/http_server.h"

namespace kiln::gateway {

inline std::string_view PresentedKey(const RequestHeader& h) {
  if (auto a = h.find(http::field::authorization); a != h.end()) {
    std::string_view v(a->value().data(), a->value().size());
    constexpr std::string_view kBearer = "Bearer ";
    if (v.size() > kBearer.size() && v.substr(0, kBearer.size()) == kBearer) return v.substr(kBearer.size());
  }
  if (auto x = h.find("X-Api-Key"); x != h.end()) return {x->value().data(), x->value().size()};
  return {};
}

// The answer while a source is over its failed-authentication limit (auth::FailureLimiter).
inline Response TooManyFailures(int64_t retry_after_s, unsigned version) {
  Response res = ErrorResponse(
      Status(Code::kResourceExhausted, "too many failed authentications from this address; retry later"), version,
      true);
  res.set(http::field::retry_after, std::to_string(retry_after_s));
  return res;
}

}  // namespace kiln::gateway
