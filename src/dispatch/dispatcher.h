// DESIGN: runs one invocation end to end and accounts for it: lease a container from
// the pool (a cold start when needed), send the event with the remaining time, turn
// how the exchange ended into a run record (status, HTTP status, error, result, logs,
// REPORT line) and emit it. Every invocation ends in exactly one emitted record,
// whatever happened, including a refusal before any container was touched, except
// throttled sync requests: those are counted, and share one record per version per
// second (throttle_log.h).
// Runs on the daemon's I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/http_result.h"
#include "dispatch/invocation_observer.h"
#include "model/records.h"
#include "dispatch/throttle_log.h"
#include "pool/pool.h"
#include "runs/log_stream.h"
#include "runs/run_recorder.h"

namespace kiln::dispatch {

struct Limits {
  size_t max_response_bytes = 6u << 20;
  size_t max_result_chars = 64u << 10;
};

struct InvocationRequest {
  FunctionVersion fv;
  std::string event;  // JSON text
  std::string request_id;
  std::string trigger;  // http | cli | async
  std::string route;    // "POST /predict" or empty
  int64_t request_bytes = 0;
  int attempt = 1;
  // An async run: the async budget instead of the sync timeout, and a result over
  // the stored cap is result_too_large (nobody waits for the response body).
  bool async = false;
};

struct Invocation {
  RunRecord run;                     // as emitted
  std::optional<HttpResult> http;    // ok runs that returned statusCode
  std::string body;                  // ok: the result bytes; failure: the error JSON
};

class Dispatcher {
 public:
  // `observer` learns of every invocation: invocation_observer.h.
  // `logs` gets every run's live output (runs/log_stream.h).
  Dispatcher(pool::Pool* pool, runs::RunRecorder* recorder, Limits limits, InvocationObserver* observer,
             runs::LogStream* logs)
      : pool_(pool), recorder_(recorder), limits_(limits), observer_(observer), logs_(logs), throttles_(recorder) {}

  boost::asio::awaitable<Invocation> Invoke(InvocationRequest req);

  // An async run that waited past its function's max_event_age_s: recorded, never run.
  void RecordExpired(RunRecord run, int64_t memory_mb, const std::string& why);

  // A request refused before dispatch (body over the cap): recorded, never run.
  void RecordRejected(const FunctionVersion& fv, const std::string& request_id,
                      const std::string& trigger, const std::string& route, int64_t request_bytes,
                      const std::string& why);

  // Throttled sync requests, counted per version (their records are sampled).
  const ThrottleLog& throttles() const { return throttles_; }

 private:
  // The record's result and REPORT line; Finish also emits it.
  void Complete(Invocation& inv, int64_t memory_mb);
  void Finish(Invocation& inv, int64_t memory_mb);

  pool::Pool* pool_;
  runs::RunRecorder* recorder_;
  Limits limits_;
  InvocationObserver* observer_;
  runs::LogStream* logs_;
  ThrottleLog throttles_;
};

// A new run's record: who, how it came, when (now), how big its request was.
RunRecord NewRunRecord(const FunctionVersion& fv, const std::string& id, const std::string& trigger,
                       const std::string& route, int64_t request_bytes);

// The Lambda-style last log line of a run.
std::string ReportLine(const RunRecord& run, int64_t memory_mb);

}  // namespace kiln::dispatch
