#include "runs/log_stream.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/time_util.h"

namespace kiln::runs {

const char* LogEventKindName(LogEvent::Kind kind) {
  switch (kind) {
    case LogEvent::Kind::kStart: return "start";
    case LogEvent::Kind::kOutput: return "output";
    case LogEvent::Kind::kEnd: return "end";
    case LogEvent::Kind::kDropped: return "dropped";
  }
  return "output";
}

LogFollower::LogFollower(LogStream* stream, std::string function, boost::asio::any_io_executor ex)
    : stream_(stream), function_(std::move(function)), wake_(ex) {}

LogFollower::~LogFollower() {
  auto [first, last] = stream_->followers_.equal_range(function_);
  for (auto it = first; it != last; ++it) {
    if (it->second == this) {
      stream_->followers_.erase(it);
      break;
    }
  }
}

void LogFollower::Push(LogEvent event, size_t max_queued_bytes) {
  if (ended_) return;
  queued_bytes_ += event.text.size() + event.run_id.size();
  if (queued_bytes_ > max_queued_bytes) {
    // Too slow a reader: it ends here, saying so, rather than hold the run's output.
    ended_ = true;
    queue_.push_back({LogEvent::Kind::kDropped, "", 0, NowEpochMs(),
                      "this follower fell more than " + std::to_string(max_queued_bytes >> 10) +
                          " KiB behind and was dropped; kiln logs without -f has every run's output"});
  } else {
    queue_.push_back(std::move(event));
  }
  wake_.cancel();
}

boost::asio::awaitable<std::optional<LogEvent>> LogFollower::Next(std::chrono::milliseconds wait) {
  if (queue_.empty() && !ended_) {
    wake_.expires_after(wait);
    boost::system::error_code ec;
    co_await wake_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
  if (queue_.empty()) co_return std::nullopt;
  LogEvent event = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= std::min(queued_bytes_, event.text.size() + event.run_id.size());
  co_return event;
}

Result<std::unique_ptr<LogFollower>> LogStream::Follow(const std::string& function) {
  if (followers_.size() >= max_followers_) {
    return Status(Code::kResourceExhausted, std::to_string(max_followers_) +
                                                " followers are following logs already (kiln serve --max-log-followers)");
  }
  auto follower = std::make_unique<LogFollower>(this, function, ex_);
  followers_.emplace(function, follower.get());
  return follower;
}

void LogStream::Publish(const std::string& function, const LogEvent& event) {
  auto [first, last] = followers_.equal_range(function);
  for (auto it = first; it != last; ++it) it->second->Push(event, kFollowerQueueBytes);
}

void LogStream::RunStarted(const RunRecord& run) {
  running_[run.id].version = run.version;
  Publish(run.function, {LogEvent::Kind::kStart, run.id, run.version, NowEpochMs(), ""});
}

void LogStream::Output(const std::string& function, const std::string& run_id, std::string_view text) {
  auto it = running_.find(run_id);
  if (it == running_.end()) return;  // not a run's (a container's init, before its first run)
  std::string& output = it->second.output;
  output.append(text.substr(0, kMaxRunOutputBytes - std::min(kMaxRunOutputBytes, output.size())));
  Publish(function, {LogEvent::Kind::kOutput, run_id, it->second.version, NowEpochMs(), std::string(text)});
}

void LogStream::RunEnded(const RunRecord& run) {
  if (running_.erase(run.id) == 0) return;  // never started here (throttled, rejected, expired)
  std::string_view logs = run.logs;
  if (!logs.empty() && logs.back() == '\n') logs.remove_suffix(1);
  const size_t last = logs.rfind('\n');
  const std::string report(last == std::string_view::npos ? logs : logs.substr(last + 1));
  Publish(run.function, {LogEvent::Kind::kEnd, run.id, run.version, NowEpochMs(), report});
}

std::optional<std::string> LogStream::OutputSoFar(const std::string& run_id) const {
  auto it = running_.find(run_id);
  if (it == running_.end()) return std::nullopt;
  return it->second.output;
}

}  // namespace kiln::runs
