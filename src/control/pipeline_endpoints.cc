// The control API's pipelines: definitions (PUT/GET/DELETE /v1/pipelines/{name}),
// runs (POST/GET /v1/pipelines/{name}/runs) and one run with its steps
// (GET /v1/pipeline-runs/{id}).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "control/control_api.h"

namespace kiln::control {
namespace {

using nlohmann::json;

json OrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json Summary(const PipelineRun& r) {
  json j = {{"id", r.id},
            {"pipeline", r.pipeline},
            {"status", PipelineRunStatusName(r.status)},
            {"current_step", r.current_step},
            {"step_count", r.steps.size()},
            {"started_at", FormatRfc3339(r.started_at)},
            {"ended_at", r.ended_at ? json(FormatRfc3339(*r.ended_at)) : json(nullptr)},
            {"duration_ms", r.ended_at ? json(*r.ended_at - r.started_at) : json(nullptr)},
            {"failed_step", r.failed_step ? json(*r.failed_step) : json(nullptr)},
            {"error_type", OrNull(r.error_type)},
            {"error_message", OrNull(r.error_message)},
            {"input_bytes", r.input_bytes}};
  return j;
}

const char* StepStatus(const PipelineRun& r, int64_t index, const std::vector<const PipelineTask*>& tasks) {
  if (r.failed_step && *r.failed_step == index) return "failed";
  if (index < r.current_step) return "ok";
  if (index > r.current_step) return r.status == PipelineRunStatus::kRunning ? "pending" : "not_run";
  if (r.status == PipelineRunStatus::kRunning) return tasks.empty() ? "pending" : "running";
  return "ok";
}

// When each step started and ended (epoch ms). A step starts when its runs are
// queued (their records' started_at); it ends when the next one starts, or when the
// pipeline run ends, for the step it ended at.
struct StepTimes {
  std::optional<int64_t> started_at, ended_at;
};

std::vector<StepTimes> Times(const PipelineRun& r, const std::vector<PipelineTask>& tasks) {
  std::vector<StepTimes> times(r.steps.size());
  for (const PipelineTask& t : tasks) {
    auto& start = times[static_cast<size_t>(t.step)].started_at;
    start = std::min(start.value_or(t.run.started_at), t.run.started_at);
  }
  std::optional<int64_t> next_start = r.ended_at;
  for (size_t i = r.steps.size(); i-- > 0;) {
    const auto index = static_cast<int64_t>(i);
    if (index < r.current_step || (index == r.current_step && r.ended_at)) {
      times[i].ended_at = next_start;
      if (!times[i].started_at) times[i].started_at = next_start;  // a map over nothing
    }
    if (times[i].started_at) next_start = times[i].started_at;
  }
  return times;
}

json StepView(const PipelineRun& r, int64_t index, const std::vector<const PipelineTask*>& tasks,
              const StepTimes& times) {
  const PipelineStep& step = r.steps[static_cast<size_t>(index)];
  json j = step;
  j["index"] = index;
  j["status"] = StepStatus(r, index, tasks);
  if (!tasks.empty()) j["version"] = tasks.front()->run.version;
  int64_t ok = 0, failed = 0, pending = 0;
  json runs = json::array();
  for (const PipelineTask* t : tasks) {
    const RunRecord& run = t->run;
    if (t->pending) {
      ++pending;
    } else if (run.status == RunStatus::kOk) {
      ++ok;
    } else {
      ++failed;
    }
    runs.push_back({{"element", t->element},
                    {"run_id", run.id},
                    {"status", RunStatusName(run.status)},
                    {"attempt", run.attempt},
                    {"duration_ms", run.duration_ms},
                    {"error_type", OrNull(run.error_type)},
                    {"error_message", OrNull(run.error_message)}});
  }
  j["counts"] = {{"runs", tasks.size()}, {"ok", ok}, {"failed", failed}, {"pending", pending}};
  j["started_at"] = times.started_at ? json(FormatRfc3339(*times.started_at)) : json(nullptr);
  j["ended_at"] = times.ended_at ? json(FormatRfc3339(*times.ended_at)) : json(nullptr);
  j["duration_ms"] =
      times.started_at && times.ended_at ? json(*times.ended_at - *times.started_at) : json(nullptr);
  j["runs"] = std::move(runs);
  return j;
}

json RunView(const PipelineRun& r, const std::vector<PipelineTask>& tasks) {
  json j = Summary(r);
  json result = json::parse(r.result.empty() ? "null" : r.result, nullptr, false);
  j["result"] = result.is_discarded() ? json(r.result) : result;
  const std::vector<StepTimes> times = Times(r, tasks);
  json steps = json::array();
  for (int64_t i = 0; i < static_cast<int64_t>(r.steps.size()); ++i) {
    std::vector<const PipelineTask*> of_step;
    for (const PipelineTask& t : tasks) {
      if (t.step == i) of_step.push_back(&t);
    }
    steps.push_back(StepView(r, i, of_step, times[static_cast<size_t>(i)]));
  }
  j["steps"] = std::move(steps);
  return j;
}

}  // namespace

Result<json> ControlApi::PutPipeline(const std::string& name, const std::string& body, bool* created) {
  json j = json::parse(body.empty() ? "{}" : body, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("the body must be a JSON object with steps");
  KILN_ASSIGN_OR_RETURN(auto defined, d_.pipelines->Define(name, j));
  *created = defined.second;
  return json(defined.first);
}

Result<json> ControlApi::ListPipelines() {
  KILN_ASSIGN_OR_RETURN(auto pipelines, d_.store->ListPipelines());
  return json{{"pipelines", pipelines}};
}

Result<json> ControlApi::GetPipeline(const std::string& name) {
  KILN_ASSIGN_OR_RETURN(Pipeline p, d_.store->GetPipeline(name));
  return json(p);
}

asio::awaitable<Response> ControlApi::StartPipelineRun(const Request& req, const std::string& name) {
  std::string key;
  if (auto h = req.find("Idempotency-Key"); h != req.end()) key = std::string(h->value());
  const std::string input = req.body().empty() ? "null" : req.body();  // named: see AsyncRequest in control_api.cc
  auto run = co_await d_.pipelines->StartRun(name, input, key);
  if (!run.ok()) {
    Response res = gateway::ErrorResponse(run.status(), req.version(), true);
    if (run.status().code() == Code::kResourceExhausted) res.set(boost::beast::http::field::retry_after, "1");
    co_return res;
  }
  Response res = Json(202, {{"run_id", run->run_id}, {"pipeline", name}, {"created", run->created}});
  res.set(boost::beast::http::field::location, "/v1/pipeline-runs/" + run->run_id);
  co_return res;
}

Result<json> ControlApi::ListPipelineRuns(const std::string& name, const Request& req) {
  KILN_RETURN_IF_ERROR(d_.store->GetPipeline(name).status());
  std::string limit = QueryParam(std::string_view(req.target().data(), req.target().size()), "limit");
  const int n = limit.empty() ? 20 : std::clamp(std::atoi(limit.c_str()), 1, 1000);
  KILN_ASSIGN_OR_RETURN(auto runs, d_.store->ListPipelineRuns(name, /*running_only=*/false, n));
  json list = json::array();
  for (const PipelineRun& r : runs) list.push_back(Summary(r));
  return json{{"runs", list}};
}

Result<json> ControlApi::GetPipelineRun(const std::string& id) {
  KILN_ASSIGN_OR_RETURN(PipelineRun run, d_.store->GetPipelineRun(id));
  KILN_ASSIGN_OR_RETURN(auto tasks, d_.store->ListPipelineTasks(id, std::nullopt));
  return RunView(run, tasks);
}

}  // namespace kiln::control
