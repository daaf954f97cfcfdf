// The control API's secrets: PUT /v1/secrets/{name} {"value"}, GET /v1/secrets (names
// and update times), DELETE /v1/secrets/{name}. No answer ever carries a value.
// Removing a secret that a version routes follow, pin or are deploying refers to is
// refused (409, naming them); an older version that refers to a removed one fails its
// container starts with a message naming the secret.
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "control/control_api.h"

namespace kiln::control {
namespace {

using nlohmann::json;
namespace http = boost::beast::http;

json Listed(const SealedSecret& s) { return {{"name", s.name}, {"updated_at", FormatRfc3339(s.updated_at)}}; }

// "function:version" of each wanted version whose env refers to the secret.
std::vector<std::string> Users(const Catalog& catalog, const std::string& name) {
  std::vector<std::string> out;
  for (const FunctionVersion& fv : catalog.AspiredVersions()) {
    for (const auto& [key, value] : fv.env) {
      if (secrets::ReferencedSecret(value) == name) {
        out.push_back(fv.function + ":" + std::to_string(fv.version));
        break;
      }
    }
  }
  return out;
}

}  // namespace

Response ControlApi::SecretEndpoint(http::verb m, const Segments& seg, const std::string& body) {
  const size_t n = seg.size();
  if (n == 2 && m == http::verb::get) {
    auto list = d_.secrets->List();
    if (!list.ok()) return gateway::ErrorResponse(list.status(), 11, true);
    json out = json::array();
    for (const auto& s : *list) out.push_back(Listed(s));
    return Json(200, {{"secrets", out}});
  }
  if (n == 3 && m == http::verb::put) {
    auto j = ParseObject(body);
    if (!j.ok()) return gateway::ErrorResponse(j.status(), 11, true);
    if (!j->contains("value") || !(*j)["value"].is_string()) {
      return gateway::ErrorResponse(InvalidArgument("a secret needs a string value"), 11, true);
    }
    auto created = d_.secrets->Set(seg[2], (*j)["value"].get<std::string>());
    if (!created.ok()) return gateway::ErrorResponse(created.status(), 11, true);
    return Json(*created ? 201 : 200, {{"name", seg[2]}, {"created", *created}});
  }
  if (n == 3 && m == http::verb::delete_) {
    if (auto users = Users(*d_.catalog, seg[2]); !users.empty()) {
      std::string names;
      for (const auto& u : users) names += (names.empty() ? "" : ", ") + u;
      return gateway::ErrorResponse(Conflict("secret " + seg[2] + " is in use by " + names +
                                             ": deploy them without it first"),
                                    11, true);
    }
    Status st = d_.secrets->Remove(seg[2]);
    if (!st.ok()) return gateway::ErrorResponse(st, 11, true);
    Response res{http::status::no_content, 11};
    res.keep_alive(true);
    return res;
  }
  return gateway::ErrorResponse(NotFound("no control endpoint for that method on /v1/secrets"), 11, true);
}

}  // namespace kiln::control
