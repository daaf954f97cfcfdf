#include "dispatch/dispatcher.h"

#include <boost/asio/this_coro.hpp>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/json_text.h"
#include "common/time_util.h"

namespace kiln::dispatch {
namespace {

using Clock = std::chrono::steady_clock;

void Fail(Invocation& inv, RunStatus status, int http_status, std::string type, std::string msg) {
  inv.run.status = status;
  inv.run.http_status = http_status;
  inv.run.error_type = std::move(type);
  inv.run.error_message = std::move(msg);
  inv.http.reset();
  inv.body = nlohmann::json{{"errorType", inv.run.error_type},
                            {"errorMessage", inv.run.error_message}}.dump();
}

// The INVOKE frame's header, written straight (no JSON tree per request):
// {"request_id": ..., "remaining_ms": ..., "attempt": ...}.
std::string InvokeHeader(std::string_view request_id, int64_t remaining_ms, int attempt) {
  std::string out = "{\"request_id\":";
  AppendJsonString(&out, request_id);
  out += ",\"remaining_ms\":";
  out += std::to_string(remaining_ms);
  out += ",\"attempt\":";
  out += std::to_string(attempt);
  out += '}';
  return out;
}

// The first `max` bytes, not cutting a UTF-8 sequence in two.
std::string Utf8Prefix(const std::string& s, size_t max, bool* truncated) {
  *truncated = s.size() > max;
  if (!*truncated) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace

std::string ReportLine(const RunRecord& run, int64_t memory_mb) {
  char buf[512];
  int n = std::snprintf(buf, sizeof buf,
                        "REPORT RequestId: %s Duration: %.2f ms Billed Duration: %lld ms Memory "
                        "Size: %lld MB Max Memory Used: %lld MB",
                        run.id.c_str(), run.duration_ms,
                        static_cast<long long>(std::ceil(run.duration_ms)),
                        static_cast<long long>(memory_mb),
                        static_cast<long long>(std::ceil(run.max_memory_mb)));
  std::string line(buf, static_cast<size_t>(n));
  if (run.init_ms) {
    std::snprintf(buf, sizeof buf, " Init Duration: %.2f ms", *run.init_ms);
    line += buf;
  }
  return line + "\n";
}

RunRecord NewRunRecord(const FunctionVersion& fv, const std::string& id, const std::string& trigger,
                       const std::string& route, int64_t request_bytes) {
  RunRecord run;
  run.id = id;
  run.function = fv.function;
  run.version = fv.version;
  run.trigger = trigger;
  run.route = route;
  run.started_at = NowEpochMs();
  run.request_bytes = request_bytes;
  return run;
}

boost::asio::awaitable<Invocation> Dispatcher::Invoke(InvocationRequest req) {
  Invocation inv;
  RunRecord& run = inv.run;
  run = NewRunRecord(req.fv, req.request_id, req.trigger, req.route, req.request_bytes);
  run.attempt = req.attempt;
  observer_->Started(req.fv, req.trigger);
  const int64_t budget_ms = req.async ? req.fv.async.timeout_ms : req.fv.timeout_ms;
  // Recorded as running once the pool takes the request (a container, a place or a
  // queue position): a daemon that dies from then on still leaves a trace, which the
  // next start closes as crashed. A request throttled at once never is.
  const std::function<void()> admitted = [&] {  // named: Acquire keeps a reference
    run.status = RunStatus::kRunning;
    recorder_->Emit(run);
  };
  const auto t0 = Clock::now();
  const auto budget = std::chrono::milliseconds(budget_ms);

  auto acquired = co_await pool_->Acquire(req.fv, t0 + budget, admitted);
  if (auto* refusal = std::get_if<pool::Refusal>(&acquired)) {
    Fail(inv, refusal->status, refusal->http_status, refusal->error_type, refusal->message);
    run.logs = refusal->logs;
    run.init_ms = refusal->init_ms;
    run.cold = refusal->cold;
    run.queue_ms = refusal->queue_ms;
    run.start = refusal->start;
    if (refusal->phases) {
      run.fork_ms = refusal->phases->fork_ms;
      run.sandbox_ms = refusal->phases->sandbox_ms;
    }
    run.start_note = refusal->start_note;
    run.duration_ms = MsSince(t0);
    Complete(inv, req.fv.memory_mb);
    observer_->Ended(run);
    if (refusal->status == RunStatus::kThrottled && !req.async) {
      auto ex = co_await boost::asio::this_coro::executor;
      throttles_.Add(run, ex);
    } else {
      recorder_->Emit(run);
    }
    co_return inv;
  }
  auto& got = std::get<pool::Acquired>(acquired);
  pool::Container& container = got.lease.container();
  run.cold = got.cold;
  run.queue_ms = got.queue_ms;
  if (got.cold) {
    run.init_ms = got.init_ms;
    run.fork_ms = got.phases.fork_ms;
    run.sandbox_ms = got.phases.sandbox_ms;
    run.start = got.start;
    run.start_note = got.start_note;
  }
  run.container_id = container.id();
  logs_->RunStarted(run);
  container.SetLogTap([logs = logs_, function = run.function, id = run.id](std::string_view text) {
    logs->Output(function, id, text);
  });

  // The handler's budget starts when the event is sent (the init phase has its own).
  const auto invoke_start = Clock::now();
  pool::Exchange ex = co_await container.Invoke(InvokeHeader(run.id, budget_ms, req.attempt), std::move(req.event), budget);
  container.SetLogTap(nullptr);
  run.duration_ms = MsSince(invoke_start);
  run.logs = got.init_logs + container.TakeLogs();

  // The cgroup's peak also counts /tmp and child processes: preferred to the RSS. Whole
  // MB, rounded up, so the record and the REPORT line say the same.
  if (auto peak = container.PeakMemoryMb()) run.max_memory_mb = std::ceil(*peak);
  switch (ex.end) {
    case pool::Exchange::End::kTimeout:
      Fail(inv, RunStatus::kTimeout, 504, "Runtime.Timeout",
           "Task timed out after " + std::to_string(budget_ms) + " ms");
      break;
    case pool::Exchange::End::kOom:
      Fail(inv, RunStatus::kOom, 502, "Runtime.OutOfMemory", pool::OomMessage(container));
      break;
    case pool::Exchange::End::kCrashed:
      Fail(inv, RunStatus::kCrashed, 502, "Runtime.Crashed",
           "the container ended during the request: " + ex.how);
      break;
    case pool::Exchange::End::kFrame: {
      auto h = nlohmann::json::parse(ex.frame.header, nullptr, false);
      if (!h.is_discarded() && run.max_memory_mb == 0) run.max_memory_mb = std::ceil(h.value("max_rss_kb", 0.0) / 1024.0);
      if (h.is_discarded()) {
        Fail(inv, RunStatus::kError, 502, "Runtime.InvalidResult", "malformed RESULT header");
      } else if (!h.value("ok", false)) {
        std::string type = h.value("errorType", "Runtime.Unknown");
        Fail(inv, RunStatus::kError, type == "Runtime.MarshalError" ? 502 : 500, type,
             h.value("errorMessage", ""));
      } else if (req.async && ex.frame.payload.size() > limits_.max_result_chars) {
        Fail(inv, RunStatus::kResultTooLarge, 502, "ResultTooLarge",
             "the result of " + std::to_string(ex.frame.payload.size()) + " bytes is over the " +
                 std::to_string(limits_.max_result_chars >> 10) +
                 " KiB an async run keeps: page the results, or write them to your own store and return where");
      } else if (ex.frame.payload.size() > limits_.max_response_bytes) {
        Fail(inv, RunStatus::kError, 502, "ResponseTooLarge",
             "the response of " + std::to_string(ex.frame.payload.size()) +
                 " bytes is over the limit of " + std::to_string(limits_.max_response_bytes));
      } else if (h.contains("http")) {
        Result<HttpResult> http = ParseHttpResult(h["http"]);
        if (!http.ok()) {
          Fail(inv, RunStatus::kError, 502, "Runtime.InvalidResult", http.status().message());
          break;
        }
        run.status = RunStatus::kOk;
        run.http_status = http->status;
        inv.http = std::move(http).value();
        inv.body = std::move(ex.frame.payload);
      } else {
        run.status = RunStatus::kOk;
        run.http_status = 200;
        inv.body = std::move(ex.frame.payload);
      }
      break;
    }
  }
  Finish(inv, req.fv.memory_mb);
  co_return inv;
}

void Dispatcher::RecordRejected(const FunctionVersion& fv, const std::string& request_id,
                                const std::string& trigger, const std::string& route,
                                int64_t request_bytes, const std::string& why) {
  Invocation inv;
  inv.run = NewRunRecord(fv, request_id, trigger, route, request_bytes);
  Fail(inv, RunStatus::kRejected, 413, "RequestTooLarge", why);
  Finish(inv, fv.memory_mb);
}

void Dispatcher::RecordExpired(RunRecord run, int64_t memory_mb, const std::string& why) {
  Invocation inv;
  inv.run = std::move(run);
  Fail(inv, RunStatus::kExpired, 504, "Runtime.EventExpired", why);
  Finish(inv, memory_mb);
}

void Dispatcher::Finish(Invocation& inv, int64_t memory_mb) {
  Complete(inv, memory_mb);
  observer_->Ended(inv.run);
  logs_->RunEnded(inv.run);
  recorder_->Emit(inv.run);
}

void Dispatcher::Complete(Invocation& inv, int64_t memory_mb) {
  RunRecord& run = inv.run;
  run.response_bytes = static_cast<int64_t>(inv.body.size());
  run.result = Utf8Prefix(inv.body, limits_.max_result_chars, &run.truncated);
  if (!run.logs.empty() && run.logs.back() != '\n') run.logs += '\n';
  run.logs += ReportLine(run, memory_mb);
}

}  // namespace kiln::dispatch
