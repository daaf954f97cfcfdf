#include "runs/pipeline_runner.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/time_util.h"
#include "dispatch/dispatcher.h"
#include "runs/pipeline_spec.h"

namespace kiln::runs {
namespace {

using nlohmann::json;

std::string StepName(const PipelineRun& run, size_t index) {
  return "step " + std::to_string(index) + " (" + run.steps[index].function + ")";
}

std::string Mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// A refusal to queue a step, as the pipeline run's ending.
PipelineEnding EndingOf(const Status& st) {
  switch (st.code()) {
    case Code::kPayloadTooLarge: return {PipelineRunStatus::kResultTooLarge, "ResultTooLarge", st.message()};
    case Code::kNotFound: return {PipelineRunStatus::kFailed, "Pipeline.FunctionNotFound", st.message()};
    case Code::kResourceExhausted: return {PipelineRunStatus::kFailed, "Pipeline.Throttled", st.message()};
    default: return {PipelineRunStatus::kFailed, "Pipeline.InvalidEvent", st.message()};
  }
}

}  // namespace

PipelineRunner::PipelineRunner(asio::any_io_executor ex, Store* store, StoreLane* lane, const Catalog* catalog,
                               AsyncRunner* async, PipelineConfig config)
    : ex_(ex), store_(store), lane_(lane), catalog_(catalog), async_(async), config_(config), timer_(ex) {}

Result<std::pair<Pipeline, bool>> PipelineRunner::Define(const std::string& name, const json& body) {
  if (!ValidName(name)) return InvalidArgument("pipeline name '" + name + "': use 1-64 of [A-Za-z0-9_-]");
  KILN_ASSIGN_OR_RETURN(std::vector<PipelineStep> steps, ParsePipelineSteps(body));
  for (size_t i = 0; i < steps.size(); ++i) {
    if (catalog_->Find(steps[i].function, steps[i].version) == nullptr) {
      return NotFound("step " + std::to_string(i) + ": no function " + steps[i].function +
                      (steps[i].version ? ":" + std::to_string(*steps[i].version) : ""));
    }
  }
  Pipeline p{name, std::move(steps), NowEpochMs(), NowEpochMs()};
  if (auto old = store_->GetPipeline(name); old.ok()) p.created_at = old->created_at;
  KILN_ASSIGN_OR_RETURN(bool created, store_->PutPipeline(p));
  return std::make_pair(std::move(p), created);
}

Result<std::vector<StepRun>> PipelineRunner::StepRuns(const PipelineRun& run, size_t index,
                                                      const std::string& event) const {
  const PipelineStep& step = run.steps[index];
  const FunctionVersion* fv = catalog_->Find(step.function, step.version);
  if (fv == nullptr) {
    return NotFound(StepName(run, index) + ": no function " + step.function +
                    (step.version ? ":" + std::to_string(*step.version) : "") + " to run");
  }
  if (event.size() > config_.max_event_bytes) {
    return Status(Code::kPayloadTooLarge,
                  "the event for " + StepName(run, index) + " is " + Mib(event.size()) + ", over the " +
                      Mib(config_.max_event_bytes) +
                      " a step takes: page the results, or write them to your own store and pass where");
  }
  auto one = [&](std::string e, int64_t element) {
    StepRun r{dispatch::NewRunRecord(*fv, RandomUuid(), "pipeline", "", static_cast<int64_t>(e.size())),
              std::move(e), element, step.timeout_ms.value_or(fv->async.timeout_ms), fv->async.max_queued};
    r.run.status = RunStatus::kQueued;
    r.run.attempt = 0;
    return r;
  };
  std::vector<StepRun> out;
  if (!step.map) {
    out.push_back(one(event, 0));
    return out;
  }
  json value = json::parse(event, nullptr, false);
  const std::string over = step.items.empty() ? "the previous result" : "key '" + step.items + "' of the previous result";
  if (!step.items.empty()) {
    if (!value.is_object() || !value.contains(step.items)) {
      return InvalidArgument(StepName(run, index) + " maps over " + over + ", which has no such key");
    }
    value = std::move(value[step.items]);
  }
  if (!value.is_array()) {
    return InvalidArgument(StepName(run, index) + " maps over " + over + ", which is " +
                           (value.is_discarded() ? std::string("not JSON")
                            : std::string(value.is_object() || value.is_array() ? "an " : "a ") + value.type_name()) +
                           ", not a list");
  }
  for (size_t i = 0; i < value.size(); ++i) out.push_back(one(value[i].dump(), static_cast<int64_t>(i)));
  return out;
}

std::variant<std::string, PipelineEnding> PipelineRunner::StepResult(const PipelineRun& run,
                                                                     const std::vector<PipelineTask>& tasks) const {
  const size_t index = static_cast<size_t>(run.current_step);
  const bool map = run.steps[index].map;
  for (const PipelineTask& t : tasks) {
    if (t.run.status == RunStatus::kOk) continue;
    std::string where = StepName(run, index);
    if (map) where.insert(where.size() - 1, ", element " + std::to_string(t.element) + " of " + std::to_string(tasks.size()));
    std::string how = t.run.status == RunStatus::kQueued
                          ? "was dropped: its function version is gone"
                          : "ended " + std::string(RunStatusName(t.run.status)) + " after " +
                                std::to_string(t.run.attempt) + " attempt(s)" +
                                (t.run.error_type.empty() ? "" : " (" + t.run.error_type + ")") +
                                (t.run.error_message.empty() ? "" : ": " + t.run.error_message);
    return PipelineEnding{PipelineRunStatus::kFailed, "Pipeline.StepFailed",
                          where + ": run " + t.run.id + " " + how};
  }
  if (!map) {
    if (tasks.empty()) return PipelineEnding{PipelineRunStatus::kFailed, "Pipeline.StepFailed", StepName(run, index) + " has no run"};
    if (!json::accept(tasks.front().run.result)) {
      return PipelineEnding{PipelineRunStatus::kFailed, "Pipeline.InvalidResult",
                            "the result of " + StepName(run, index) +
                                " is not JSON (did it return an HTTP response with a text body?); a step's result is "
                                "the next step's event"};
    }
    return tasks.front().run.result;
  }
  std::string combined = "[";
  for (const PipelineTask& t : tasks) {
    if (!json::accept(t.run.result)) {
      return PipelineEnding{PipelineRunStatus::kFailed, "Pipeline.InvalidResult",
                            "the result of " + StepName(run, index) + ", element " + std::to_string(t.element) +
                                " (run " + t.run.id + "), is not JSON"};
    }
    if (combined.size() > 1) combined += ',';
    combined += t.run.result;
  }
  return combined + "]";
}

asio::awaitable<void> PipelineRunner::End(PipelineRun run, const PipelineEnding& why) {
  run.status = why.status;
  run.ended_at = NowEpochMs();
  run.failed_step = run.current_step;
  run.error_type = why.error_type;
  run.error_message = why.error_message;
  auto ended = co_await lane_->Run([&](Store& s) { return s.EndPipelineRun(run); });
  if (!ended.ok()) spdlog::warn("pipeline run {}: ending it: {}", run.id, ended.status().message());
}

// The step's state in one call on the lane: the run, and its current step's runs once
// none of them is pending (nullopt while one is, or when the run is not running).
namespace {
struct StepState {
  PipelineRun run;
  std::vector<PipelineTask> tasks;
};
}  // namespace

asio::awaitable<bool> PipelineRunner::AdvanceOnce(const std::string& id) {
  Result<std::optional<StepState>> state = co_await lane_->Run([&](Store& s) -> Result<std::optional<StepState>> {
    KILN_ASSIGN_OR_RETURN(PipelineRun run, s.GetPipelineRun(id));
    if (run.status != PipelineRunStatus::kRunning) return std::optional<StepState>();
    KILN_ASSIGN_OR_RETURN(int64_t pending, s.CountPendingTasks(id, run.current_step));
    if (pending > 0) return std::optional<StepState>();
    KILN_ASSIGN_OR_RETURN(std::vector<PipelineTask> tasks, s.ListPipelineTasks(id, run.current_step));
    return std::optional<StepState>(StepState{std::move(run), std::move(tasks)});
  });
  if (!state.ok()) {
    if (state.status().code() != Code::kNotFound) spdlog::warn("pipeline run {}: {}", id, state.status().message());
    co_return false;
  }
  if (!state->has_value()) co_return false;
  std::optional<PipelineRun> run = std::move((*state)->run);
  auto result = StepResult(*run, (*state)->tasks);
  if (auto* ending = std::get_if<PipelineEnding>(&result)) {
    co_await End(std::move(*run), *ending);
    co_return false;
  }
  std::string& value = std::get<std::string>(result);
  const size_t next = static_cast<size_t>(run->current_step) + 1;
  if (next == run->steps.size()) {
    if (value.size() > config_.max_result_chars) {
      PipelineEnding too_large{PipelineRunStatus::kResultTooLarge, "ResultTooLarge",
                               "the result of " + StepName(*run, next - 1) + " is " + std::to_string(value.size()) +
                                   " bytes, over the " + std::to_string(config_.max_result_chars >> 10) +
                                   " KiB a pipeline run keeps: page the results, or write them to your own "
                                   "store and return where"};
      co_await End(std::move(*run), too_large);
      co_return false;
    }
    run->status = PipelineRunStatus::kOk;
    run->ended_at = NowEpochMs();
    run->result = std::move(value);
    auto ended = co_await lane_->Run([&](Store& s) { return s.EndPipelineRun(*run); });
    if (!ended.ok()) spdlog::warn("pipeline run {}: ending it: {}", id, ended.status().message());
    co_return false;
  }
  auto runs = StepRuns(*run, next, value);
  if (!runs.ok()) {
    ++run->current_step;  // the ending names the step that could not start
    co_await End(std::move(*run), EndingOf(runs.status()));
    co_return false;
  }
  auto moved = co_await lane_->Run([&](Store& s) { return s.AdvancePipelineRun(id, run->current_step, *runs); });
  if (!moved.ok()) {
    if (moved.status().code() == Code::kResourceExhausted) {
      ++run->current_step;
      co_await End(std::move(*run), EndingOf(moved.status()));
    } else {
      spdlog::warn("pipeline run {}: queuing {}: {}", id, StepName(*run, next), moved.status().message());
    }
    co_return false;
  }
  if (*moved) async_->Wake();
  co_return *moved && runs->empty();
}

void PipelineRunner::Advance(const std::string& id) {
  asio::co_spawn(ex_, AdvanceAll(id), asio::detached);
}

asio::awaitable<void> PipelineRunner::AdvanceAll(std::string id) {
  // A map over an empty list is done as soon as it starts: go on at once.
  for (;;) {  // not `while (co_await ...)`: GCC 12 miscompiles a co_await in a loop's condition
    const bool again = co_await AdvanceOnce(id);
    if (!again) break;
  }
}

asio::awaitable<Result<Enqueued>> PipelineRunner::StartRun(const std::string& name, const std::string& input,
                                                           const std::string& idempotency_key) {
  Result<Pipeline> p = store_->GetPipeline(name);
  if (!p.ok()) co_return p.status();
  if (!json::accept(input)) co_return InvalidArgument("the pipeline's input must be JSON");
  PipelineRun run;
  run.id = RandomUuid();
  run.pipeline = name;
  run.steps = std::move(p->steps);
  run.started_at = NowEpochMs();
  run.input_bytes = static_cast<int64_t>(input.size());
  Result<std::vector<StepRun>> first = StepRuns(run, 0, input);
  if (!first.ok()) co_return first.status();
  const int64_t dedupe_since = run.started_at - std::chrono::milliseconds(config_.idempotency_window).count();
  Result<Enqueued> started = co_await lane_->Run(
      [&](Store& s) { return s.CreatePipelineRun(run, *first, idempotency_key, dedupe_since); });
  if (!started.ok() || !started->created) co_return started;
  async_->Wake();
  if (first->empty()) co_await AdvanceAll(run.id);
  co_return started;
}

void PipelineRunner::Start() {
  auto running = lane_->RunNow([](Store& s) { return s.ListPipelineRuns("", /*running_only=*/true, 100000); });
  if (!running.ok()) spdlog::warn("pipeline runs: {}", running.status().message());
  if (running.ok() && !running->empty()) spdlog::info("{} pipeline runs under way: going on", running->size());
  asio::co_spawn(timer_.get_executor(), [this]() { return Sweep(); }, asio::detached);
}

void PipelineRunner::Stop() {
  stopping_ = true;
  timer_.cancel();
}

asio::awaitable<void> PipelineRunner::Sweep() {
  while (!stopping_) {
    auto running =
        co_await lane_->Run([](Store& s) { return s.ListPipelineRuns("", /*running_only=*/true, 100000); });
    for (const PipelineRun& r : running.ok() ? *running : std::vector<PipelineRun>{}) co_await AdvanceAll(r.id);
    timer_.expires_after(config_.sweep);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace kiln::runs
