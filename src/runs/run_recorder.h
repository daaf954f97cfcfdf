// DESIGN: the one place run records leave the request path. Emit() queues a record
// and returns at once; a writer thread commits queued records in batches (one
// transaction per batch) through its own store connection. The writer waits up to
// kGroupCommitWindow after the first queued record, so under load many runs share a
// transaction, and a run that ends within the window is written once (its `running`
// record is folded into the final one). Flush() cuts the window short and waits until
// everything emitted so far is durable, so a listing right after a run sees it.
// Container lifecycle records (started, and why one left) travel the same way.
// Later consumers of run events (metrics, the dashboard's live feed) hook in here.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
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
  void Flush();

 private:
  void WriterLoop();

  std::unique_ptr<Store> store_;  // used only by the writer thread
  std::mutex mu_;                 // guards everything below
  std::condition_variable wake_;
  std::condition_variable written_;
  std::deque<RunRecord> queue_;
  std::deque<ContainerRecord> containers_;
  uint64_t emitted_ = 0;
  uint64_t durable_ = 0;
  uint64_t flush_waiters_ = 0;
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
