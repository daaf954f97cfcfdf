#include "dispatch/throttle_log.h"

#include <boost/asio/steady_timer.hpp>

namespace kiln::dispatch {
namespace {

std::string KeyOf(const std::string& function, int64_t version) { return function + ":" + std::to_string(version); }

}  // namespace

ThrottleLog::ThrottleLog(runs::RunRecorder* recorder) : state_(std::make_shared<State>()) {
  state_->recorder = recorder;
}

void ThrottleLog::Add(RunRecord& run, const boost::asio::any_io_executor& ex) {
  const std::string key = KeyOf(run.function, run.version);
  ++state_->totals[key];
  auto open = state_->open.find(key);
  if (open != state_->open.end()) {
    ++open->second->folded;
    run.id = open->second->record.id;  // the caller's answer names the shared record
    return;
  }
  state_->recorder->Emit(run);
  state_->open[key] = std::make_shared<Window>(Window{run});
  auto timer = std::make_shared<boost::asio::steady_timer>(ex, kWindow);
  timer->async_wait([timer, weak = std::weak_ptr<State>(state_), key](const boost::system::error_code&) {
    if (auto state = weak.lock()) Close(state, key);
  });
}

void ThrottleLog::Close(const std::shared_ptr<State>& state, const std::string& key) {
  auto open = state->open.find(key);
  if (open == state->open.end()) return;
  std::shared_ptr<Window> w = open->second;
  state->open.erase(open);
  if (w->folded == 1) return;  // recorded as it was
  w->record.stands_for = w->folded;
  w->record.error_message += " (" + std::to_string(w->folded) + " requests of " + key + " were throttled within " +
                             std::to_string(kWindow.count()) + " ms; this record stands for them all)";
  state->recorder->Emit(w->record);
}

int64_t ThrottleLog::Count(const std::string& function, int64_t version) const {
  auto it = state_->totals.find(KeyOf(function, version));
  return it == state_->totals.end() ? 0 : it->second;
}

}  // namespace kiln::dispatch
