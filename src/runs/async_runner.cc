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

AsyncRunner::AsyncRunner(asio::any_io_executor ex, Store* store, Catalog* catalog, pool::Pool* pool,
                         dispatch::Dispatcher* dispatcher, RunRecorder* recorder, AsyncConfig config)
    : ex_(ex),
      store_(store),
      catalog_(catalog),
      pool_(pool),
      dispatcher_(dispatcher),
      recorder_(recorder),
      config_(config),
      owner_("kiln-" + std::to_string(getpid()) + "-" + RandomAlnum(8)),
      timer_(ex) {}

Result<Enqueued> AsyncRunner::Enqueue(AsyncRequest req) {
  RunRecord run = dispatch::NewRunRecord(req.fv, RandomUuid(), req.trigger, req.route, req.request_bytes);
  run.status = RunStatus::kQueued;
  run.attempt = 0;
  const int64_t dedupe_since = run.started_at - std::chrono::milliseconds(config_.idempotency_window).count();
  auto queued = store_->EnqueueRun(run, req.event, req.idempotency_key, dedupe_since, req.fv.async.max_queued);
  if (queued.ok() && queued->created) timer_.cancel();  // look at the queue now
  return queued;
}

Status AsyncRunner::Start() {
  KILN_ASSIGN_OR_RETURN(int64_t released, store_->ReleaseLeases());
  if (released > 0) spdlog::warn("{} async runs were in flight when the daemon last stopped: queued again", released);
  asio::co_spawn(ex_, [this]() { return Loop(); }, asio::detached);
  return OkStatus();
}

void AsyncRunner::Stop() {
  stopping_ = true;
  timer_.cancel();
}

void AsyncRunner::RenewLeases() {
  const auto now = std::chrono::steady_clock::now();
  if (running_.empty() || now < next_renewal_) return;
  next_renewal_ = now + config_.lease / 3;
  Status st = store_->RenewLeases(owner_, {running_.begin(), running_.end()}, NowEpochMs() + Ms(config_.lease));
  if (!st.ok()) spdlog::warn("renewing the leases of {} async runs: {}", running_.size(), st.message());
}

asio::awaitable<void> AsyncRunner::Loop() {
  while (!stopping_) {
    RenewLeases();
    if (running_.size() < config_.max_running) {
      const int64_t now = NowEpochMs();
      auto leased = store_->LeaseRuns(owner_, now, now + Ms(config_.lease),
                                      static_cast<int>(config_.max_running - running_.size()));
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
    Dequeue(q);
    co_return;
  }
  if (!pool_->HasRoomForAsync(fv)) {  // sync requests first: try again in a moment
    if (store_->RequeueRun(q.run_id, now + Ms(config_.no_room_delay)).ok()) room_waiters_[fv.function].insert(q.run_id);
    co_return;
  }
  const int attempt = q.attempt + 1;
  if (Status st = store_->StartAttempt(q.run_id, attempt); !st.ok()) {
    spdlog::warn("async run {}: {}", q.run_id, st.message());
    (void)store_->RequeueRun(q.run_id, now + Ms(config_.no_room_delay));
    co_return;
  }
  dispatch::InvocationRequest req{fv, q.event, q.run_id, trigger, q.route,
                                  static_cast<int64_t>(q.event.size()), attempt, true};
  dispatch::Invocation inv = co_await dispatcher_->Invoke(std::move(req));
  ReadyRoomWaiters(fv.function);
  co_await recorder_->Flush();  // the final record is durable before the run leaves the queue
  if (Retryable(inv.run, fv.async) && attempt <= fv.async.retries) {
    const int64_t delay = Ms(config_.backoff) << (attempt - 1);
    RunRecord again = inv.run;
    again.status = RunStatus::kQueued;
    again.error_message = "attempt " + std::to_string(attempt) + " ended " + RunStatusName(inv.run.status) + ": " +
                          inv.run.error_message + "; retrying in " + std::to_string(delay) + " ms";
    recorder_->Emit(again);
    co_await recorder_->Flush();
    (void)store_->RequeueRun(q.run_id, NowEpochMs() + delay);
    co_return;
  }
  Dequeue(q);
}

void AsyncRunner::ReadyRoomWaiters(const std::string& function) {
  auto it = room_waiters_.find(function);
  if (it == room_waiters_.end()) return;
  // Only rows nobody leased meanwhile: a waiter whose delay ran out may be running now.
  Status st = store_->MakeReady({it->second.begin(), it->second.end()}, NowEpochMs());
  if (!st.ok()) spdlog::warn("async runs of {}: {}", function, st.message());
  room_waiters_.erase(it);
}

void AsyncRunner::Dequeue(const QueuedRun& q) {
  if (Status st = store_->DeleteQueuedRun(q.run_id); !st.ok()) {
    spdlog::warn("async run {} stays queued, to be delivered again: {}", q.run_id, st.message());
    return;
  }
  if (!q.pipeline_run.empty() && step_end_) step_end_(q.pipeline_run);
}

}  // namespace kiln::runs
