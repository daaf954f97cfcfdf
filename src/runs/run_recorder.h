// DESIGN: the one place run records leave the request path. Emit() queues a record
// and returns at once; a writer thread commits queued records in batches (one
// transaction per batch) through its own store connection. The writer waits up to
// kGroupCommitWindow after the first queued record, so under load many runs share a
// transaction, and a run that ends within the window is written once (its `running`
// record is folded into the final one). Flush() cuts the window short and resumes its
// caller once everything emitted so far is durable, so a listing right after a run sees
// it. The caller's thread never waits (issue #16): its coroutine is resumed on its own
// executor by a completion the writer posts there.
// Container lifecycle records (started, and why one left) travel the same way.
// Later consumers of run events (metrics, the dashboard's live feed) hook in here.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "model/records.h"
#include "store/store.h"

namespace kiln::runs {

class RunRecorder {
 public:
  static constexpr std::chrono::milliseconds kGroupCommitWindow{5};

  explicit RunRecorder(std::unique_ptr<Store> store);
  ~RunRecorder();  // writes what is queued, then stops
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  // Records a run; a later Emit of the same id updates it (running -> final).
  void Emit(RunRecord run);
  // Records a container; a later call with the same id updates it (live -> ended).
  void EmitContainer(ContainerRecord container);
  // Resumes once every record emitted before the call is durable.
  boost::asio::awaitable<void> Flush();

 private:
  // A suspended Flush: cancelled (on its own executor) once `target` records are durable.
  struct FlushWaiter {
    uint64_t target;
    std::shared_ptr<boost::asio::steady_timer> done;
  };
  void WriterLoop();
  void ResumeFlushed();  // with mu_ held

  std::unique_ptr<Store> store_;  // used only by the writer thread
  std::mutex mu_;                 // guards everything below
  std::condition_variable wake_;
  std::vector<FlushWaiter> flush_waiters_;
  std::deque<RunRecord> queue_;
  std::deque<ContainerRecord> containers_;
  uint64_t emitted_ = 0;
  uint64_t durable_ = 0;
  bool stopping_ = false;
  std::thread writer_;  // last: starts after the members it uses
};

// The last record of each id, in the order ids first appear.
template <typename Record>
std::vector<Record> CoalesceById(std::deque<Record> records) {
  std::vector<Record> out;
  out.reserve(records.size());
  std::unordered_map<std::string, size_t> index;
  for (auto& r : records) {
    auto [it, fresh] = index.emplace(r.id, out.size());
    if (fresh) {
      out.push_back(std::move(r));
    } else {
      out[it->second] = std::move(r);
    }
  }
  return out;
}

}  // namespace kiln::runs
