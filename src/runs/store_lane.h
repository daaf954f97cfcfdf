// DESIGN: where the store work of async runs and pipeline runs happens (issue #16):
// enqueues, leases and their renewals, requeues, a run's leaving the queue, a pipeline
// run's start and each step's advance. Not on the I/O thread, whose requests would
// wait behind each commit (an fsync): on one thread of the lane's own, with an SQLite
// connection of its own (WAL: it writes beside the I/O thread's and the recorder's
// connections; busy_timeout orders them). Callers await Run(f): f(store) runs on the
// lane's thread and the caller resumes on its own executor with the result. One
// thread, so the connection is never used by two at once, and calls run in the order
// they were made.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <memory>
#include <utility>

#include "pool/blocking_call.h"
#include "store/store.h"

namespace kiln::runs {

class StoreLane {
 public:
  explicit StoreLane(std::unique_ptr<Store> store) : store_(std::move(store)) {}
  ~StoreLane() { thread_.join(); }
  StoreLane(const StoreLane&) = delete;
  StoreLane& operator=(const StoreLane&) = delete;

  // Not a coroutine itself: `f` moves into the awaited call's frame as it starts.
  template <typename F>
  auto Run(F f) {
    return pool::OnBlockingPool(thread_.get_executor(), [store = store_.get(), f = std::move(f)] { return f(*store); });
  }

  // For the daemon's start, before any loop runs: the caller waits.
  template <typename F>
  auto RunNow(F f) -> decltype(f(std::declval<Store&>())) {
    std::packaged_task<decltype(f(std::declval<Store&>()))()> task([&] { return f(*store_); });
    auto result = task.get_future();
    boost::asio::post(thread_, std::move(task));
    return result.get();
  }

 private:
  std::unique_ptr<Store> store_;
  boost::asio::thread_pool thread_{1};
};

}  // namespace kiln::runs
