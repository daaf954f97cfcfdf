// DESIGN: the live output of running runs (issue #15): `kiln logs -f` follows a
// function, and `GET /v1/runs/{id}` of a running run shows its output so far.
//
// Model: the dispatcher says when a run starts and ends, and each container's output
// is handed over as its log pipe is read (pool/container.h's tap), tagged with the run.
// Followers subscribe to one function; each event (a run's start, a piece of its
// output, its end with the REPORT line) is appended to every follower's own queue.
//
// Bounds: publishing never waits, so a follower never slows a run. A follower whose
// queue holds more than kFollowerQueueBytes is dropped: its queue ends with a marker
// event saying so, and it ends. At most `max_followers` follow at once per node
// (kiln serve --max-log-followers); Follow() refuses the next one. A running run's
// output so far is kept up to the run's own log cap (256 KiB), and forgotten when it
// ends (its record has it then).
//
// Threads: the daemon's I/O thread only, as the dispatcher and the containers are. A
// follower's Next() suspends on a timer the publisher cancels, so it resumes on the
// same thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/status.h"
#include "model/records.h"

namespace kiln::runs {

struct LogEvent {
  enum class Kind { kStart, kOutput, kEnd, kDropped };
  Kind kind = Kind::kOutput;
  std::string run_id;
  int64_t version = 0;
  int64_t at_ms = 0;  // when the daemon read it
  std::string text;   // output; the REPORT line at the end; why, when dropped
};
const char* LogEventKindName(LogEvent::Kind kind);

class LogStream;

// One `kiln logs -f`: the events of one function, from when it subscribed.
class LogFollower {
 public:
  LogFollower(LogStream* stream, std::string function, boost::asio::any_io_executor ex);
  ~LogFollower();  // unsubscribes
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // The next event, waiting up to `wait` for one; nullopt when none came (the caller
  // may send a keep-alive) or, once `ended()`, never again.
  boost::asio::awaitable<std::optional<LogEvent>> Next(std::chrono::milliseconds wait);
  bool ended() const { return ended_ && queue_.empty(); }
  // Ends a pending Next() now (it yields what is queued, or nothing).
  void Wake() { wake_.cancel(); }
  const std::string& function() const { return function_; }

 private:
  friend class LogStream;
  void Push(LogEvent event, size_t max_queued_bytes);

  LogStream* stream_;
  std::string function_;
  std::deque<LogEvent> queue_;
  size_t queued_bytes_ = 0;
  bool ended_ = false;
  boost::asio::steady_timer wake_;
};

class LogStream {
 public:
  static constexpr size_t kFollowerQueueBytes = 1 << 20;
  static constexpr size_t kMaxRunOutputBytes = 256 << 10;

  LogStream(boost::asio::any_io_executor ex, size_t max_followers) : ex_(std::move(ex)), max_followers_(max_followers) {}

  // A new follower of `function`; ResourceExhausted past max_followers.
  Result<std::unique_ptr<LogFollower>> Follow(const std::string& function);

  void RunStarted(const RunRecord& run);
  void Output(const std::string& function, const std::string& run_id, std::string_view text);
  // The run's record is final; its REPORT line (the last of its logs) ends its events.
  void RunEnded(const RunRecord& run);
  // A running run's output so far; nullopt once it ended (or never ran here).
  std::optional<std::string> OutputSoFar(const std::string& run_id) const;

 private:
  friend class LogFollower;
  void Publish(const std::string& function, const LogEvent& event);

  boost::asio::any_io_executor ex_;
  size_t max_followers_;
  std::multimap<std::string, LogFollower*> followers_;  // by function
  struct Running {
    int64_t version = 0;
    std::string output;  // so far, up to kMaxRunOutputBytes
  };
  std::map<std::string, Running> running_;  // by run id
};

}  // namespace kiln::runs
