#include "runs/run_recorder.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace kiln::runs {

RunRecorder::RunRecorder(std::unique_ptr<Store> store)
    : store_(std::move(store)), writer_([this] { WriterLoop(); }) {}

RunRecorder::~RunRecorder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void RunRecorder::Emit(RunRecord run) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(run));
    ++emitted_;
  }
  wake_.notify_one();
}

void RunRecorder::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = emitted_;
  written_.wait(lock, [&] { return durable_ >= target; });
}

void RunRecorder::WriterLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    std::vector<RunRecord> batch(std::make_move_iterator(queue_.begin()),
                                 std::make_move_iterator(queue_.end()));
    queue_.clear();
    lock.unlock();
    Status st = store_->UpsertRuns(batch);
    if (!st.ok()) {
      // The records stay in the log of the daemon; the store is what is broken.
      for (const auto& r : batch) {
        spdlog::error("run {} ({} {}) not stored: {}", r.id, r.function, RunStatusName(r.status),
                      st.message());
      }
    }
    lock.lock();
    durable_ += batch.size();
    written_.notify_all();
  }
}

}  // namespace kiln::runs
