#include "runs/log_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace kiln::runs {
namespace {

RunRecord RecordOf(const std::string& id, const std::string& logs = "") {
  RunRecord r;
  r.id = id;
  r.function = "f";
  r.version = 3;
  r.logs = logs;
  return r;
}

// Every event the follower has queued now.
std::vector<LogEvent> Drain(boost::asio::io_context& io, LogFollower& follower) {
  std::vector<LogEvent> out;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        while (auto e = co_await follower.Next(std::chrono::milliseconds(1))) out.push_back(std::move(*e));
      },
      boost::asio::detached);
  io.run();
  io.restart();
  return out;
}

TEST(LogStream, AFollowerSeesStartOutputAndTheReportLineOfItsFunctionOnly) {
  boost::asio::io_context io;
  LogStream stream(io.get_executor(), 4);
  auto follower = stream.Follow("f");
  ASSERT_TRUE(follower.ok());
  stream.RunStarted(RecordOf("r1"));
  stream.Output("f", "r1", "hello\n");
  stream.Output("g", "r2", "not f's\n");
  EXPECT_EQ(stream.OutputSoFar("r1").value_or(""), "hello\n");
  stream.RunEnded(RecordOf("r1", "hello\nREPORT RequestId: r1 Duration: 1 ms\n"));
  EXPECT_FALSE(stream.OutputSoFar("r1").has_value());
  stream.RunEnded(RecordOf("r9"));  // never started here: nothing
  auto events = Drain(io, **follower);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, LogEvent::Kind::kStart);
  EXPECT_EQ(events[0].version, 3);
  EXPECT_EQ(events[1].text, "hello\n");
  EXPECT_EQ(events[2].kind, LogEvent::Kind::kEnd);
  EXPECT_EQ(events[2].text, "REPORT RequestId: r1 Duration: 1 ms");
}

TEST(LogStream, ASlowFollowerIsDroppedWithAMarkerAndOthersGoOn) {
  boost::asio::io_context io;
  LogStream stream(io.get_executor(), 4);
  auto slow = stream.Follow("f");
  ASSERT_TRUE(slow.ok());
  stream.RunStarted(RecordOf("r1"));
  const std::string piece(64 << 10, 'x');
  for (size_t sent = 0; sent <= LogStream::kFollowerQueueBytes; sent += piece.size()) stream.Output("f", "r1", piece);
  auto events = Drain(io, **slow);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, LogEvent::Kind::kDropped);
  EXPECT_TRUE((*slow)->ended());
  // The run's own output so far stops at the run's cap, whatever was printed.
  EXPECT_EQ(stream.OutputSoFar("r1")->size(), LogStream::kMaxRunOutputBytes);
}

TEST(LogStream, FollowersAreCappedAndAPlaceFreesWhenOneLeaves) {
  boost::asio::io_context io;
  LogStream stream(io.get_executor(), 1);
  auto first = stream.Follow("f");
  ASSERT_TRUE(first.ok());
  auto second = stream.Follow("g");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kResourceExhausted);
  first->reset();
  EXPECT_TRUE(stream.Follow("g").ok());
}

}  // namespace
}  // namespace kiln::runs
