#include "runs/store_lane.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <thread>

#include "store/sqlite_store.h"
#include "store/temp_db_for_test.h"

namespace kiln::runs {
namespace {

namespace asio = boost::asio;

class StoreLaneTest : public ::testing::Test {
 protected:
  TempDb db_{"kiln-lane"};
  StoreLane lane_{db_.Open()};
};

// The call runs on the lane's thread; its caller resumes on its own loop with the
// result, and that loop serves other work meanwhile.
TEST_F(StoreLaneTest, CallsRunOnTheLaneAndResumeOnTheCallersLoop) {
  asio::io_context io;
  const std::thread::id loop = std::this_thread::get_id();
  std::thread::id ran_on, resumed_on;
  Result<std::pair<int64_t, std::optional<int64_t>>> depth = Internal("not run");
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> {
        depth = co_await lane_.Run([&](Store& s) {
          ran_on = std::this_thread::get_id();
          return s.QueueDepth();
        });
        resumed_on = std::this_thread::get_id();
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(depth.ok()) << depth.status().message();
  EXPECT_EQ(depth->first, 0);
  EXPECT_NE(ran_on, loop);
  EXPECT_EQ(resumed_on, loop);
}

TEST_F(StoreLaneTest, CallsRunInTheOrderTheyWereMade) {
  asio::io_context io;
  std::vector<int> order;
  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(
        io, [&, i]() -> asio::awaitable<void> { co_await lane_.Run([&order, i](Store&) { order.push_back(i); return 0; }); },
        asio::detached);
  }
  io.run();
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);  // written on the lane's one thread only
}

TEST_F(StoreLaneTest, RunNowWaitsForTheResult) {
  Result<int64_t> released = lane_.RunNow([](Store& s) { return s.ReleaseLeases(); });
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, 0);
}

}  // namespace
}  // namespace kiln::runs
