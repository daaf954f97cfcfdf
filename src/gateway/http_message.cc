#include "gateway/http_message.h"

#include <nlohmann/json.hpp>

namespace kiln::gateway {

Response JsonResponse(unsigned status, const std::string& body, unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = body;
  res.prepare_payload();
  return res;
}

Response ErrorResponse(const Status& st, unsigned version, bool keep_alive) {
  nlohmann::json body = {{"error", {{"code", CodeName(st.code())}, {"message", st.message()}}}};
  return JsonResponse(HttpStatusOf(st.code()), body.dump(), version, keep_alive);
}

Response RefusalResponse(const HttpRefusal& refusal) {
  const char* code = "invalid_argument";
  switch (refusal.status) {
    case 408: code = "request_timeout"; break;
    case 413: code = "payload_too_large"; break;
    case 414: code = "uri_too_long"; break;
    case 431: code = "header_too_large"; break;
    case 500: code = "internal"; break;
    case 501: code = "not_implemented"; break;
    case 505: code = "http_version_not_supported"; break;
  }
  nlohmann::json body = {{"error", {{"code", code}, {"message", refusal.message}}}};
  return JsonResponse(refusal.status, body.dump(), 11, false);
}

}  // namespace kiln::gateway
