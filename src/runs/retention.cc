#include "runs/retention.h"

#include <algorithm>
#include <spdlog/spdlog.h>

namespace kiln::runs {

Retention::Retention(std::unique_ptr<Store> store, std::unique_ptr<AuditLog> audit, RetentionConfig config,
                     std::function<int64_t()> now)
    : store_(std::move(store)), audit_(std::move(audit)), config_(config), now_(std::move(now)) {}

Retention::~Retention() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::chrono::milliseconds Retention::interval() const {
  return std::clamp(config_.keep / 10, std::chrono::milliseconds(100), std::chrono::milliseconds(std::chrono::hours(1)));
}

int64_t Retention::SweepOnce() {
  const int64_t now = now_();
  const int64_t before = now - config_.keep.count();
  const int64_t keys_before = now - config_.idempotency_window.count();
  int64_t total = 0;
  for (;;) {
    auto deleted = store_->PurgeOldRecords(before, keys_before, config_.batch);
    if (!deleted.ok()) {
      spdlog::warn("retention: {}", deleted.status().message());
      break;
    }
    total += *deleted;
    if (*deleted == 0) break;
  }
  for (;;) {
    auto deleted = audit_->PurgeAudit(now - config_.audit_keep.count(), config_.batch);
    if (!deleted.ok()) {
      spdlog::warn("retention: audit log: {}", deleted.status().message());
      break;
    }
    total += *deleted;
    if (*deleted == 0) break;
  }
  if (total > 0) spdlog::info("retention: deleted {} records older than {} h", total, config_.keep.count() / 3600000.0);
  return total;
}

void Retention::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      SweepOnce();
      lock.lock();
      wake_.wait_for(lock, interval(), [&] { return stopping_; });
    }
  });
}

}  // namespace kiln::runs
