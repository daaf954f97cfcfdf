// The control API's read side of functions: the listing behind `kiln ls`, the
// description behind `kiln describe`, and the stats API. Figures come from the run
// records (runs/run_stats.h) and the live containers from the pool; env values never
// leave (names only: model/records.cc).
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "control/control_api.h"
#include "runs/run_stats.h"

namespace kiln::control {
namespace {

using nlohmann::json;

constexpr int64_t kMinute = 60000;
constexpr int64_t kHour = 60 * kMinute;

// starting beats everything (a deploy is under way); else ready when something serves.
const char* FunctionState(const std::vector<const FunctionVersion*>& versions, const FunctionVersion* serving) {
  for (const FunctionVersion* v : versions) {
    if (v->state == VersionState::kStarting) return "deploying";
  }
  return serving != nullptr ? "ready" : "failed";
}

json RouteView(const Route& r, const FunctionVersion* serving) {
  json j = r;
  j["serves"] = r.version ? json(*r.version) : serving ? json(serving->version) : json(nullptr);
  return j;
}

}  // namespace

Result<runs::FunctionStats> ControlApi::StatsOf(const std::string& name, int64_t window_ms, int64_t bucket_ms) {
  KILN_ASSIGN_OR_RETURN(runs::FunctionStats stats, runs::StatsWindow(NowEpochMs(), window_ms, bucket_ms));
  runs::StatsBuilder builder(stats);
  KILN_RETURN_IF_ERROR(d_.store->VisitRunSamples(name, stats.from_ms, [&](const RunSample& s) { builder.Add(s); }));
  builder.Finish();
  return stats;
}

Result<json> ControlApi::ListFunctions() {
  std::map<std::string, int64_t> live;
  for (const pool::ContainerInfo& c : d_.pool->Containers()) ++live[c.function];
  std::map<std::string, std::vector<std::string>> routes;
  for (const kiln::Route& r : d_.catalog->Routes()) routes[r.function].push_back(r.method + " " + r.path);
  json list = json::array();
  for (const std::string& name : d_.catalog->FunctionNames()) {
    const auto versions = d_.catalog->Versions(name);
    const FunctionVersion* serving = d_.catalog->Find(name, std::nullopt);
    KILN_ASSIGN_OR_RETURN(runs::FunctionStats hour, StatsOf(name, kHour, kMinute));
    KILN_ASSIGN_OR_RETURN(std::optional<int64_t> last_run, d_.store->LastRunStarted(name));
    list.push_back({{"name", name},
                    {"serving_version", serving ? json(serving->version) : json(nullptr)},
                    {"latest_version", versions.back()->version},
                    {"state", FunctionState(versions, serving)},
                    {"routes", routes[name]},
                    {"containers", live[name]},
                    {"last_run_at", last_run ? json(FormatRfc3339(*last_run)) : json(nullptr)},
                    {"last_run_age_s", last_run ? json((NowEpochMs() - *last_run) / 1000.0) : json(nullptr)},
                    {"last_hour", {{"invocations", hour.total.invocations},
                                   {"errors", hour.total.errors},
                                   {"throttles", hour.total.throttles},
                                   {"cold_starts", hour.total.cold.count},
                                   {"warm_p50_ms", json(hour.total)["warm"]["p50_ms"]}}},
                    {"updated_at", FormatRfc3339(versions.back()->created_at)}});
  }
  return json{{"functions", list}};
}

Result<json> ControlApi::GetFunction(const std::string& name) {
  const auto versions = d_.catalog->Versions(name);
  if (versions.empty()) return NotFound("no function " + name);
  const FunctionVersion* serving = d_.catalog->Find(name, std::nullopt);
  json list = json::array();
  for (const FunctionVersion* v : versions) {
    json jv = *v;
    jv["serving"] = serving == v;
    jv["throttled"] = d_.dispatcher->throttles().Count(name, v->version);  // since the daemon started
    list.push_back(std::move(jv));
  }
  json routes = json::array();
  for (const kiln::Route& r : d_.catalog->Routes()) {
    if (r.function == name) routes.push_back(RouteView(r, serving));
  }
  json containers = json::array();
  for (const pool::ContainerInfo& c : d_.pool->Containers()) {
    if (c.function == name) {
      containers.push_back({{"id", c.id}, {"version", c.version}, {"state", pool::ContainerStateName(c.state)}});
    }
  }
  KILN_ASSIGN_OR_RETURN(runs::FunctionStats hour, StatsOf(name, kHour, kMinute));
  return json{{"name", name},
              {"state", FunctionState(versions, serving)},
              {"latest_version", versions.back()->version},
              {"serving_version", serving ? json(serving->version) : json(nullptr)},
              {"versions", list},
              {"routes", routes},
              {"containers", containers},
              {"last_hour", json(hour).at("totals")}};
}

Result<json> ControlApi::GetStats(const std::string& name, const Request& req) {
  if (d_.catalog->Versions(name).empty()) return NotFound("no function " + name);
  auto duration = [&](const char* key, const char* fallback) {
    std::string text = QueryParam(std::string_view(req.target().data(), req.target().size()), key);
    return ParseDurationMs(text.empty() ? fallback : text);
  };
  const int64_t window = duration("window", "1h"), bucket = duration("bucket", "1m");
  if (window < 0 || bucket < 0) return InvalidArgument("window and bucket are durations such as 1h, 6h, 24h, 1m, 5m");
  KILN_ASSIGN_OR_RETURN(runs::FunctionStats stats, StatsOf(name, window, bucket));
  json out = stats;
  out["function"] = name;
  return out;
}

}  // namespace kiln::control
