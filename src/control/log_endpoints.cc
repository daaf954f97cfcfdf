// GET /v1/logs: the output of a function's runs in time order, for `kiln logs`; with
// follow=true, the live events of its runs as server-sent events (`kiln logs -f`).
#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "control/access_table.h"
#include "control/control_api.h"

namespace kiln::control {
namespace {

// The runs /v1/logs lists: function (required), status, since, limit (default 100).
Result<RunFilter> LogFilter(std::string_view target) {
  RunFilter f;
  f.function = QueryParam(target, "function");
  if (f.function.empty()) return InvalidArgument("function is required: /v1/logs?function=NAME");
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
  return f;
}


// A recorded run as the events a follower would have seen: its start, its output (a
// running run's so far), and, once ended, its REPORT line.
void AppendRun(const RunRecord& run, const runs::LogStream& live, std::deque<runs::LogEvent>* out) {
  using Kind = runs::LogEvent::Kind;
  out->push_back({Kind::kStart, run.id, run.version, run.started_at, ""});
  const bool running = run.status == RunStatus::kRunning;
  std::string text = running ? live.OutputSoFar(run.id).value_or("") : run.logs;
  std::string report;
  if (!running) {
    const size_t end = text.size() > 0 && text.back() == '\n' ? text.size() - 1 : text.size();
    const size_t last = text.rfind('\n', end == 0 ? 0 : end - 1);
    const size_t from = last == std::string::npos ? 0 : last + 1;
    if (text.compare(from, 7, "REPORT ") == 0) {
      report = text.substr(from, end - from);
      text.resize(from);
    }
  }
  if (!text.empty()) out->push_back({Kind::kOutput, run.id, run.version, run.started_at, std::move(text)});
  if (!running) out->push_back({Kind::kEnd, run.id, run.version, run.started_at, std::move(report)});
}

// One follower's events as server-sent events: "event: start|output|end|dropped" and
// "data: {run_id, version, at, text}"; a comment every 15 s without events, so a
// client that left is noticed by the write that fails.
class LogEventStream final : public gateway::ResponseStream {
 public:
  // Before the live events, the stream says what `kiln logs` would list (`filter`):
  // read at its first event, once every run emitted before is durable (an awaited
  // flush). The follower subscribed before that read, so nothing falls in between.
  LogEventStream(std::unique_ptr<runs::LogFollower> follower, RunFilter filter, runs::RunRecorder* recorder,
                 Store* store, const runs::LogStream* live)
      : follower_(std::move(follower)), filter_(std::move(filter)), recorder_(recorder), store_(store), live_(live) {}

  Response Head() override {
    Response res{gateway::http::status::ok, 11};
    res.set(gateway::http::field::content_type, "text/event-stream");
    res.set(gateway::http::field::cache_control, "no-cache");
    return res;
  }

  void Cancel() override {
    cancelled_ = true;
    follower_->Wake();
  }

  asio::awaitable<std::optional<std::string>> Next() override {
    if (cancelled_) co_return std::nullopt;
    if (!history_read_) {
      history_read_ = true;
      co_await recorder_->Flush();
      Result<std::vector<RunRecord>> runs = store_->ListRuns(filter_);
      if (!runs.ok()) co_return "event: error\ndata: " + nlohmann::json(runs.status().message()).dump() + "\n\n";
      for (auto it = runs->rbegin(); it != runs->rend(); ++it) AppendRun(*it, *live_, &history_);
    }
    std::optional<runs::LogEvent> event;
    if (!history_.empty()) {
      event = std::move(history_.front());
      history_.pop_front();
    } else {
      if (follower_->ended()) co_return std::nullopt;
      event = co_await follower_->Next(std::chrono::seconds(15));
    }
    if (cancelled_ || (!event && follower_->ended())) co_return std::nullopt;
    if (!event) co_return ": keep-alive\n\n";
    nlohmann::json data = {{"run_id", event->run_id},
                           {"version", event->version},
                           {"at", FormatRfc3339(event->at_ms)},
                           {"text", event->text}};
    co_return std::string("event: ") + runs::LogEventKindName(event->kind) + "\ndata: " +
        data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
  }

 private:
  std::unique_ptr<runs::LogFollower> follower_;
  RunFilter filter_;
  runs::RunRecorder* recorder_;
  Store* store_;
  const runs::LogStream* live_;
  bool history_read_ = false;
  std::deque<runs::LogEvent> history_;
  bool cancelled_ = false;
};


}  // namespace

Result<std::unique_ptr<gateway::ResponseStream>> ControlApi::FollowLogs(const gateway::RequestHeader& header) {
  const std::string_view target(header.target().data(), header.target().size());
  const std::string function = QueryParam(target, "function");
  if (function.empty()) return InvalidArgument("function is required: /v1/logs?function=NAME&follow=true");
  if (d_.catalog->Versions(function).empty()) return NotFound("no function " + function);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runs::LogFollower> follower, d_.logs->Follow(function));
  KILN_ASSIGN_OR_RETURN(RunFilter filter, LogFilter(target));
  return std::unique_ptr<gateway::ResponseStream>(
      std::make_unique<LogEventStream>(std::move(follower), std::move(filter), d_.recorder, d_.store, d_.logs));
}

bool ControlApi::AsksToFollowLogs(const gateway::RequestHeader& header) {
  const std::string_view target(header.target().data(), header.target().size());
  return header.method() == gateway::http::verb::get && PathSegments(target) == Segments{"v1", "logs"} &&
         QueryParam(target, "follow") == "true";
}

Result<nlohmann::json> ControlApi::ListLogs(const Request& req) {
  const std::string_view target(req.target().data(), req.target().size());
  KILN_ASSIGN_OR_RETURN(RunFilter f, LogFilter(target));
  if (d_.catalog->Versions(f.function).empty()) {
    RunFilter any{.function = f.function, .limit = 1};
    KILN_ASSIGN_OR_RETURN(auto kept, d_.store->ListRuns(any));  // a removed function's runs stay readable
    if (kept.empty()) return NotFound("no function " + f.function);
  }
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
