#include "runs/run_recorder.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kiln::runs {

namespace asio = boost::asio;

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

asio::awaitable<void> RunRecorder::Flush() {
  auto done = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                   std::chrono::steady_clock::time_point::max());
  {
    std::lock_guard lock(mu_);
    if (durable_ >= emitted_) co_return;
    flush_waiters_.push_back({emitted_, done});
  }
  wake_.notify_one();
  boost::system::error_code ec;
  co_await done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void RunRecorder::ResumeFlushed() {
  std::erase_if(flush_waiters_, [&](FlushWaiter& w) {
    if (w.target > durable_) return false;
    // A timer is touched only on its own executor's thread.
    auto ex = w.done->get_executor();
    asio::post(ex, [done = std::move(w.done)] { done->cancel(); });
    return true;
  });
}

void RunRecorder::WriterLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto idle = [&] { return queue_.empty() && containers_.empty(); };
    wake_.wait(lock, [&] { return stopping_ || !idle(); });
    if (idle() && stopping_) return;
    // Group commit: let more runs join, unless someone waits or we are stopping.
    wake_.wait_for(lock, kGroupCommitWindow, [&] { return stopping_ || !flush_waiters_.empty(); });
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
    ResumeFlushed();
  }
}

}  // namespace kiln::runs
