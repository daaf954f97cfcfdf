// DESIGN: throttled requests (429: the pool and its queue are full) are counted, not
// each recorded (issue #14, defect 11): at 11k throttles a second a record each let
// an anonymous client grow the store by hundreds of MB in seconds.
//
// Model: per function version, a counter of every throttled sync request since the
// daemon started (GET /v1/functions/{name}: each version's "throttled"), and at most
// one run record per version per window (1 s): the first throttle of a window is
// recorded at once, as it is; the ones after it in the window share its record (their
// X-Kiln-Run-Id names it) and, when the window closes, that record is updated to say
// how many it stands for. So the store takes at most two writes per version per
// second, however hard it is pushed. Async runs keep their own records (each is a run
// someone waits for), and never come here.
//
// Threads: the daemon's I/O thread only (the dispatcher's); no locks. A window's
// closing timer holds only a weak reference, so it does nothing once the log is gone.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "model/records.h"
#include "runs/run_recorder.h"

namespace kiln::dispatch {

class ThrottleLog {
 public:
  static constexpr std::chrono::milliseconds kWindow{1000};

  explicit ThrottleLog(runs::RunRecorder* recorder);

  // Accounts for one throttled request whose record `run` is final. The first of a
  // window is emitted; later ones take its id (and emit nothing). `ex` runs the
  // timer that closes the window.
  void Add(RunRecord& run, const boost::asio::any_io_executor& ex);

  // Throttled sync requests of one version since the daemon started.
  int64_t Count(const std::string& function, int64_t version) const;

 private:
  struct Window {
    RunRecord record;     // the window's one record, as first emitted
    int64_t folded = 1;   // throttles it stands for
  };
  struct State {
    runs::RunRecorder* recorder;
    std::map<std::string, int64_t> totals;                  // by "function:version"
    std::map<std::string, std::shared_ptr<Window>> open;    // windows not yet closed
  };
  static void Close(const std::shared_ptr<State>& state, const std::string& key);

  std::shared_ptr<State> state_;
};

}  // namespace kiln::dispatch
