// The keys and audit endpoints: POST /v1/keys, POST /v1/keys/{id}/rotate, GET /v1/audit.
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "control/control_api.h"

namespace kiln::control {
namespace {

using nlohmann::json;

constexpr int64_t kMaxExpiresS = 10ll * 365 * 24 * 3600;  // ten years
constexpr int64_t kMaxGraceS = 30ll * 24 * 3600;          // a rotation's grace: 30 days

// A whole number of seconds in [min, max], or an error naming the field.
Result<int64_t> Seconds(const json& j, const char* field, int64_t min, int64_t max) {
  const json& v = j[field];
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    return InvalidArgument(std::string(field) + " must be a whole number of seconds from " + std::to_string(min) +
                           " to " + std::to_string(max));
  }
  return v.get<int64_t>();
}

Status OnlyFields(const json& j, std::initializer_list<const char*> known) {
  for (const auto& [field, value] : j.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return field == k; })) {
      return InvalidArgument("unknown field '" + field + "'");
    }
  }
  return OkStatus();
}

Result<ControlRole> RoleOf(const json& j) {
  ControlRole role = ControlRole::kNone;
  if (j.contains("role") && !j["role"].is_null()) {
    auto parsed = j["role"].is_string() ? ParseControlRole(j["role"].get<std::string>()) : std::nullopt;
    if (!parsed) return InvalidArgument("role must be one of admin, deployer, reader");
    role = *parsed;
  }
  if (j.contains("admin") && !j["admin"].is_null()) {
    if (!j["admin"].is_boolean()) return InvalidArgument("admin must be true or false");
    if (j["admin"].get<bool>()) {
      if (role != ControlRole::kNone && role != ControlRole::kAdmin) {
        return InvalidArgument("admin: true and role '" + std::string(ControlRoleName(role)) + "' disagree");
      }
      role = ControlRole::kAdmin;
    }
  }
  return role;
}

}  // namespace

Result<json> ControlApi::CreateKey(const std::string& body) {
  KILN_ASSIGN_OR_RETURN(json j, ParseObject(body));
  KILN_RETURN_IF_ERROR(OnlyFields(j, {"name", "routes", "functions", "admin", "role", "expires_in_s", "metrics"}));
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty()) {
    return InvalidArgument("a key needs a name (a string)");
  }
  std::string name = j["name"].get<std::string>();
  if (!ValidName(name)) return InvalidArgument("a key's name is 1 to 64 characters of [A-Za-z0-9_-]");
  auth::KeyScope scope;
  KILN_ASSIGN_OR_RETURN(scope.routes, StringList(j, "routes"));
  KILN_ASSIGN_OR_RETURN(scope.functions, StringList(j, "functions"));
  KILN_ASSIGN_OR_RETURN(scope.role, RoleOf(j));
  if (j.contains("metrics") && !j["metrics"].is_null()) {
    if (!j["metrics"].is_boolean()) return InvalidArgument("metrics must be true or false");
    scope.metrics = j["metrics"].get<bool>();
  }
  if (scope.role == ControlRole::kNone && scope.routes.empty() && scope.functions.empty() && !scope.metrics) {
    return InvalidArgument("a key needs a scope: routes, functions, metrics, or a role");
  }
  if (j.contains("expires_in_s") && !j["expires_in_s"].is_null()) {
    KILN_ASSIGN_OR_RETURN(int64_t s, Seconds(j, "expires_in_s", 1, kMaxExpiresS));
    scope.expires_at = NowEpochMs() + s * 1000;
  }
  KILN_ASSIGN_OR_RETURN(auth::NewKey k, d_.catalog->CreateKey(name, std::move(scope)));
  json out = k.record;
  out["key"] = k.plaintext;
  return out;
}

Result<json> ControlApi::RotateKey(const std::string& id, const std::string& body) {
  KILN_ASSIGN_OR_RETURN(json j, ParseObject(body));
  KILN_RETURN_IF_ERROR(OnlyFields(j, {"grace_s"}));
  int64_t grace_s = 0;
  if (j.contains("grace_s") && !j["grace_s"].is_null()) {
    KILN_ASSIGN_OR_RETURN(grace_s, Seconds(j, "grace_s", 0, kMaxGraceS));
  }
  KILN_ASSIGN_OR_RETURN(auth::NewKey k, d_.catalog->RotateKey(id, grace_s * 1000));
  json out = k.record;
  out["key"] = k.plaintext;
  return out;
}

Result<json> ControlApi::ListAudit(const Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  int64_t since = 0;
  int limit = 100;
  if (std::string s = QueryParam(target, "since"); !s.empty()) {
    char* end = nullptr;
    since = std::strtoll(s.c_str(), &end, 10);
    if (*end != '\0' || since < 0) return InvalidArgument("since must be a time in epoch milliseconds");
  }
  if (std::string l = QueryParam(target, "limit"); !l.empty()) limit = std::clamp(std::atoi(l.c_str()), 1, 1000);
  KILN_ASSIGN_OR_RETURN(auto entries, d_.audit->ListAudit(since, limit));
  return json{{"entries", entries}};
}

}  // namespace kiln::control
