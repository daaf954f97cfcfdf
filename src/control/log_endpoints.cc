// GET /v1/logs: the output of a function's runs in time order, for `kiln logs`.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "control/control_api.h"

namespace kiln::control {

Result<nlohmann::json> ControlApi::ListLogs(const Request& req) {
  const std::string_view target(req.target().data(), req.target().size());
  RunFilter f;
  f.function = QueryParam(target, "function");
  if (f.function.empty()) return InvalidArgument("function is required: /v1/logs?function=NAME");
  if (d_.catalog->Versions(f.function).empty()) {
    RunFilter any{.function = f.function, .limit = 1};
    KILN_ASSIGN_OR_RETURN(auto kept, d_.store->ListRuns(any));  // a removed function's runs stay readable
    if (kept.empty()) return NotFound("no function " + f.function);
  }
  if (std::string status = QueryParam(target, "status"); !status.empty()) {
    f.status = ParseRunStatus(status);
    if (!f.status) return InvalidArgument("unknown run status '" + status + "'");
  }
  if (std::string since = QueryParam(target, "since"); !since.empty()) {
    const int64_t ms = ParseDurationMs(since);
    if (ms < 0) return InvalidArgument("since is a duration such as 10m, 2h, 7d");
    f.since_ms = NowEpochMs() - ms;
  }
  f.limit = 100;
  if (std::string limit = QueryParam(target, "limit"); !limit.empty()) f.limit = std::clamp(std::atoi(limit.c_str()), 1, 1000);
  f.with_logs = true;
  d_.recorder->Flush();
  KILN_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, d_.store->ListRuns(f));
  nlohmann::json list = nlohmann::json::array();
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {  // oldest first
    list.push_back({{"id", it->id},
                    {"version", it->version},
                    {"trigger", it->trigger},
                    {"status", RunStatusName(it->status)},
                    {"started_at", FormatRfc3339(it->started_at)},
                    {"duration_ms", it->duration_ms},
                    {"logs", it->logs}});
  }
  return nlohmann::json{{"function", f.function}, {"runs", list}};
}

}  // namespace kiln::control
