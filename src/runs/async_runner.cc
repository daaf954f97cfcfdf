#include "runs/async_runner.h"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/time_util.h"

namespace kiln::runs {

namespace {

int64_t Ms(std::chrono::milliseconds d) { return d.count(); }

bool Retryable(const RunRecord& run, const AsyncOptions& options) {
  switch (run.status) {
    case RunStatus::kTimeout:
    case RunStatus::kOom:
    case RunStatus::kCrashed:
      return true;
    case RunStatus::kError:
      return options.retry_on_error;
    default:
      return false;
  }
}

}  // namespace

AsyncRunner::AsyncRunner(asio::any_io_executor ex, StoreLane* lane, Catalog* catalog, pool::Pool* pool,
                         dispatch::Dispatcher* dispatcher, RunRecorder* recorder, AsyncConfig config)
    : ex_(ex),
      lane_(lane),
      catalog_(catalog),
      pool_(pool),
      dispatcher_(dispatcher),
      recorder_(recorder),
      config_(config),
      owner_("kiln-" + std::to_string(getpid()) + "-" + RandomAlnum(8)),
      timer_(ex) {}

asio::awaitable<Result<Enqueued>> AsyncRunner::Enqueue(AsyncRequest req) {
  RunRecord run = dispatch::NewRunRecord(req.fv, RandomUuid(), req.trigger, req.route, req.request_bytes);
  run.status = RunStatus::kQueued;
  run.attempt = 0;
  const int64_t dedupe_since = run.started_at - std::chrono::milliseconds(config_.idempotency_window).count();
  auto queued = co_await lane_->Run([&](Store& s) {
    return s.EnqueueRun(run, req.event, req.idempotency_key, dedupe_since, req.fv.async.max_queued);
  });
  if (queued.ok() && queued->created) timer_.cancel();  // look at the queue now
  co_return queued;
}

Status AsyncRunner::Start() {
  KILN_ASSIGN_OR_RETURN(int64_t released, lane_->RunNow([](Store& s) { return s.ReleaseLeases(); }));
  if (released > 0) spdlog::warn("{} async runs were in flight when the daemon last stopped: queued again", released);
  asio::co_spawn(ex_, [this]() { return Loop(); }, asio::detached);
  return OkStatus();
}

void AsyncRunner::Stop() {
  stopping_ = true;
  timer_.cancel();
}

asio::awaitable<void> AsyncRunner::RenewLeases() {
  const auto now = std::chrono::steady_clock::now();
  if (running_.empty() || now < next_renewal_) co_return;
  next_renewal_ = now + config_.lease / 3;
  const std::vector<std::string> ids(running_.begin(), running_.end());
  const int64_t until = NowEpochMs() + Ms(config_.lease);
  Status st = co_await lane_->Run([&](Store& s) { return s.RenewLeases(owner_, ids, until); });
  if (!st.ok()) spdlog::warn("renewing the leases of {} async runs: {}", running_.size(), st.message());
}

asio::awaitable<void> AsyncRunner::Loop() {
  while (!stopping_) {
    co_await RenewLeases();
    if (running_.size() < config_.max_running) {
      const int64_t now = NowEpochMs();
      const int room = static_cast<int>(config_.max_running - running_.size());
      auto leased = co_await lane_->Run(
          [&](Store& s) { return s.LeaseRuns(owner_, now, now + Ms(config_.lease), room); });
      if (!leased.ok()) spdlog::warn("leasing async runs: {}", leased.status().message());
      for (QueuedRun& q : leased.ok() ? *leased : std::vector<QueuedRun>{}) {
        running_.insert(q.run_id);
        asio::co_spawn(ex_, Deliver(std::move(q)), asio::detached);
      }
    }
    timer_.expires_after(config_.poll);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> AsyncRunner::Deliver(QueuedRun q) {
  struct Done {  // whatever happens, the run leaves running_ and the loop looks again
    AsyncRunner* r;
    std::string id;
    ~Done() {
      r->running_.erase(id);
      r->timer_.cancel();
    }
  } done{this, q.run_id};

  const FunctionVersion* found = catalog_->Find(q.function, q.version);
  if (found == nullptr) {
    spdlog::warn("async run {}: {}:{} is gone; dropped", q.run_id, q.function, q.version);
    Dequeue(q);
    co_return;
  }
  FunctionVersion fv = *found;
  if (q.budget_ms > 0) fv.async.timeout_ms = q.budget_ms;  // a pipeline step's own budget
  const std::string trigger = q.pipeline_run.empty() ? "async" : "pipeline";
  const int64_t now = NowEpochMs();
  if (now - q.enqueued_at > fv.async.max_event_age_s * 1000) {
    RunRecord run = dispatch::NewRunRecord(fv, q.run_id, trigger, q.route, static_cast<int64_t>(q.event.size()));
    run.started_at = q.enqueued_at;
    run.attempt = q.attempt;
    dispatcher_->RecordExpired(std::move(run), fv.memory_mb,
                               "queued for " + std::to_string((now - q.enqueued_at) / 1000) +
                                   " s, past the function's max_event_age_s of " +
                                   std::to_string(fv.async.max_event_age_s));
    co_await recorder_->Flush();
    co_await Dequeue(q);
    co_return;
  }
  const int64_t retry_at = now + Ms(config_.no_room_delay);
  if (!pool_->HasRoomForAsync(fv)) {  // sync requests first: try again in a moment
    Status requeued = co_await lane_->Run([&](Store& s) { return s.RequeueRun(q.run_id, retry_at); });
    if (requeued.ok()) room_waiters_[fv.function].insert(q.run_id);
    co_return;
  }
  const int attempt = q.attempt + 1;
  if (Status st = co_await lane_->Run([&](Store& s) { return s.StartAttempt(q.run_id, attempt); }); !st.ok()) {
    spdlog::warn("async run {}: {}", q.run_id, st.message());
    (void)co_await lane_->Run([&](Store& s) { return s.RequeueRun(q.run_id, retry_at); });
    co_return;
  }
  dispatch::InvocationRequest req{fv, q.event, q.run_id, trigger, q.route,
                                  static_cast<int64_t>(q.event.size()), attempt, true};
  dispatch::Invocation inv = co_await dispatcher_->Invoke(std::move(req));
  co_await ReadyRoomWaiters(fv.function);
  co_await recorder_->Flush();  // the final record is durable before the run leaves the queue
  if (Retryable(inv.run, fv.async) && attempt <= fv.async.retries) {
    const int64_t delay = Ms(config_.backoff) << (attempt - 1);
    RunRecord again = inv.run;
    again.status = RunStatus::kQueued;
    again.error_message = "attempt " + std::to_string(attempt) + " ended " + RunStatusName(inv.run.status) + ": " +
                          inv.run.error_message + "; retrying in " + std::to_string(delay) + " ms";
    recorder_->Emit(again);
    co_await recorder_->Flush();
    const int64_t again_at = NowEpochMs() + delay;
    (void)co_await lane_->Run([&](Store& s) { return s.RequeueRun(q.run_id, again_at); });
    co_return;
  }
  co_await Dequeue(q);
}

asio::awaitable<void> AsyncRunner::ReadyRoomWaiters(const std::string& function) {
  auto it = room_waiters_.find(function);
  if (it == room_waiters_.end()) co_return;
  // Only rows nobody leased meanwhile: a waiter whose delay ran out may be running now.
  const std::vector<std::string> ids(it->second.begin(), it->second.end());
  room_waiters_.erase(it);
  const int64_t now = NowEpochMs();
  Status st = co_await lane_->Run([&](Store& s) { return s.MakeReady(ids, now); });
  if (!st.ok()) spdlog::warn("async runs of {}: {}", function, st.message());
}

asio::awaitable<void> AsyncRunner::Dequeue(const QueuedRun& q) {
  if (Status st = co_await lane_->Run([&](Store& s) { return s.DeleteQueuedRun(q.run_id); }); !st.ok()) {
    spdlog::warn("async run {} stays queued, to be delivered again: {}", q.run_id, st.message());
    co_return;
  }
  if (!q.pipeline_run.empty() && step_end_) step_end_(q.pipeline_run);
}

}  // namespace kiln::runs
