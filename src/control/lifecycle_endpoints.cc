// The control API's lifecycle verbs (issue #15): remove a function or a version,
// roll back, repoint a route. The workflows are the Deployer's; these parse and answer.
#include <nlohmann/json.hpp>

#include "control/control_api.h"

namespace kiln::control {
namespace {

using nlohmann::json;

Response Error(const Status& st) { return gateway::ErrorResponse(st, 11, true); }

// An optional positive version from a JSON field: unset when absent or null.
Result<std::optional<int64_t>> VersionField(const json& j) {
  if (!j.contains("version") || j["version"].is_null()) return std::optional<int64_t>();
  if (!j["version"].is_number_integer() || j["version"].get<int64_t>() < 1) {
    return InvalidArgument("version must be a positive integer or null");
  }
  return std::optional(j["version"].get<int64_t>());
}

}  // namespace

nlohmann::json PrewarmJson(const pool::PrewarmReport& report, const FunctionVersion& v) {
  if (report.containers == 0) return nullptr;
  return {{"containers", report.containers},
          {"init_ms", report.init_ms},
          {"rss_mb", report.rss_mb},
          {"private_mb", report.private_mb ? json(*report.private_mb) : json(nullptr)},
          {"shared_mb", report.shared_mb ? json(*report.shared_mb) : json(nullptr)},
          {"memory_mb", v.memory_mb},
          {"start", report.start}};
}

Response InitFailedResponse(const DeployFailed& failed) {
  const std::string why = failed.refusal.error_type + ": " + failed.refusal.message;
  std::string message = "version " + std::to_string(failed.version.version) + " failed its init phase: " + why +
                        (failed.serving ? "; routes keep serving version " + std::to_string(*failed.serving)
                                        : "; the function has no version that serves");
  return Json(422, {{"error", {{"code", CodeName(Code::kInitFailed)},
                               {"message", message},
                               {"version", failed.version.version},
                               {"run_id", failed.run_id},
                               {"logs", failed.refusal.logs}}}});
}

Response ControlApi::RemoveFunction(const std::string& name, const Request& req) {
  const bool force = QueryParam(std::string_view(req.target().data(), req.target().size()), "force") == "true";
  Result<Removed> removed = d_.deployer->RemoveFunction(name, force);
  if (!removed.ok()) return Error(removed.status());
  return Json(200, {{"function", name}, {"versions", removed->versions}, {"routes_removed", removed->routes}});
}

Response ControlApi::RemoveVersion(const std::string& name, const std::string& version) {
  const int64_t v = std::atoll(version.c_str());
  if (v <= 0 || std::to_string(v) != version) return Error(NotFound("no function " + name + ":" + version));
  Status st = d_.deployer->RemoveVersion(name, v);
  return st.ok() ? NoContent() : Error(st);
}

asio::awaitable<Response> ControlApi::Rollback(const std::string& name, const std::string& body) {
  Result<json> j = body.empty() ? Result<json>(json::object()) : ParseObject(body);
  if (!j.ok()) co_return Error(j.status());
  Result<std::optional<int64_t>> version = VersionField(*j);
  if (!version.ok()) co_return Error(version.status());
  auto done = co_await d_.deployer->Rollback(name, *version);
  if (!done.ok()) co_return Error(done.status());
  if (auto* failed = std::get_if<DeployFailed>(&*done)) co_return InitFailedResponse(*failed);
  const RolledBack& rb = std::get<RolledBack>(*done);
  co_return Json(200, {{"function", name},
                       {"from", rb.from},
                       {"to", rb.to.version},
                       {"prewarm", PrewarmJson(rb.prewarm, rb.to)},
                       {"warnings", rb.prewarm.warnings}});
}

Result<json> ControlApi::SetRoute(const std::string& id, const std::string& body) {
  const int64_t route_id = std::atoll(id.c_str());
  if (route_id <= 0 || std::to_string(route_id) != id) return NotFound("no route with id " + id);
  KILN_ASSIGN_OR_RETURN(json j, ParseObject(body));
  for (const auto& [key, value] : j.items()) {
    if (key != "function" && key != "version") {
      return InvalidArgument("a route's target is set with function and version; '" + key + "' is not one");
    }
  }
  if (!j.contains("function") || !j["function"].is_string()) return InvalidArgument("function must be a string");
  KILN_ASSIGN_OR_RETURN(std::optional<int64_t> version, VersionField(j));
  KILN_ASSIGN_OR_RETURN(kiln::Route route, d_.deployer->Repoint(route_id, j["function"].get<std::string>(), version));
  return json(route);
}

}  // namespace kiln::control
