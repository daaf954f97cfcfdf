#include "runs/run_recorder.h"

#include <spdlog/spdlog.h>

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
  bool first;
  {
    std::lock_guard lock(mu_);
    first = queue_.empty() && containers_.empty();
    queue_.push_back(std::move(run));
    ++emitted_;
  }
  if (first) wake_.notify_one();  // later ones join the open window
}

void RunRecorder::EmitContainer(ContainerRecord container) {
  bool first;
  {
    std::lock_guard lock(mu_);
    first = queue_.empty() && containers_.empty();
    containers_.push_back(std::move(container));
    ++emitted_;
  }
  if (first) wake_.notify_one();
}

void RunRecorder::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = emitted_;
  if (durable_ >= target) return;
  ++flush_waiters_;
  wake_.notify_one();
  written_.wait(lock, [&] { return durable_ >= target; });
  --flush_waiters_;
}

void RunRecorder::WriterLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto idle = [&] { return queue_.empty() && containers_.empty(); };
    wake_.wait(lock, [&] { return stopping_ || !idle(); });
    if (idle() && stopping_) return;
    // Group commit: let more runs join, unless someone waits or we are stopping.
    wake_.wait_for(lock, kGroupCommitWindow, [&] { return stopping_ || flush_waiters_ > 0; });
    std::deque<RunRecord> taken;
    taken.swap(queue_);
    std::deque<ContainerRecord> taken_containers;
    taken_containers.swap(containers_);
    uint64_t count = taken.size() + taken_containers.size();
    lock.unlock();
    std::vector<RunRecord> batch = CoalesceById(std::move(taken));
    Status st = store_->UpsertRecords(batch, CoalesceById(std::move(taken_containers)));
    if (!st.ok()) {
      // The records stay in the daemon's log; the store is what is broken.
      for (const auto& r : batch) {
        spdlog::error("run {} ({} {}) not stored: {}", r.id, r.function, RunStatusName(r.status),
                      st.message());
      }
    }
    lock.lock();
    durable_ += count;
    written_.notify_all();
  }
}

}  // namespace kiln::runs
