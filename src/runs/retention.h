// DESIGN: records are kept for a while, then deleted (SPEC §6: results are kept 7
// days). A thread of its own, with its own store connection, sweeps at start and then
// every hour (or every tenth of the retention, when that is shorter): runs, containers
// and pipeline runs that ended longer ago than `keep`, and idempotency keys older
// than their window, and audit entries older than `audit_keep` (90 days: an audit
// trail should outlive the records it explains). It deletes in batches of `batch` rows per kind and transaction,
// so the run recorder's writes never wait long behind it. A run still queued, running
// or part of a running pipeline run is never deleted, however old.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "store/audit_log.h"
#include "store/store.h"

namespace kiln::runs {

struct RetentionConfig {
  std::chrono::milliseconds keep{std::chrono::hours(24 * 7)};
  std::chrono::milliseconds idempotency_window{std::chrono::hours(24)};
  std::chrono::milliseconds audit_keep{std::chrono::hours(24 * 90)};
  int batch = 5000;
};

class Retention {
 public:
  // `now` gives epoch ms (injected so tests can move time).
  Retention(std::unique_ptr<Store> store, std::unique_ptr<AuditLog> audit, RetentionConfig config,
            std::function<int64_t()> now);
  ~Retention();  // stops the thread
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  // One sweep, on the caller's thread; returns how many rows went.
  int64_t SweepOnce();
  // Sweeps now and then every interval(), on the retention thread.
  void Start();

  std::chrono::milliseconds interval() const;

 private:
  std::unique_ptr<Store> store_;  // used by one thread at a time: the caller of SweepOnce or the thread
  std::unique_ptr<AuditLog> audit_;  // likewise
  RetentionConfig config_;
  std::function<int64_t()> now_;
  std::mutex mu_;  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kiln::runs
