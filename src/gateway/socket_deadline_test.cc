#include "gateway/socket_deadline.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>

namespace kiln::gateway {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A connected loopback pair: the test reads on `server`, `client` never writes, so a
// read stays pending until something cancels it.
struct Pair {
  asio::io_context io;
  asio::ip::tcp::socket server{io}, client{io};
  Pair() {
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  // Starts a read; the returned optional is set when it completes.
  std::shared_ptr<std::optional<boost::system::error_code>> Read() {
    auto done = std::make_shared<std::optional<boost::system::error_code>>();
    server.async_read_some(asio::buffer(byte_, 1), [done](boost::system::error_code ec, size_t) { *done = ec; });
    return done;
  }
  // Runs the loop until `done` is set or `bound` passes.
  void RunUntil(const std::shared_ptr<std::optional<boost::system::error_code>>& done, milliseconds bound) {
    const auto end = std::chrono::steady_clock::now() + bound;
    while (!*done && std::chrono::steady_clock::now() < end) io.run_one_for(milliseconds(20));
  }
  char byte_[1];
};

TEST(SocketDeadline, CancelsAPendingReadWhenItPasses) {
  Pair p;
  SocketDeadline deadline(p.server);
  auto read = p.Read();
  deadline.Arm(milliseconds(30));
  p.RunUntil(read, milliseconds(10000));
  ASSERT_TRUE(*read);
  EXPECT_EQ(**read, asio::error::operation_aborted);
  EXPECT_TRUE(deadline.expired());
}

TEST(SocketDeadline, AShorterDeadlineAfterALongerOneStillFires) {
  Pair p;
  SocketDeadline deadline(p.server);
  deadline.Arm(std::chrono::hours(1));
  deadline.Disarm();
  deadline.Arm(milliseconds(30));  // earlier than the wait the timer has pending
  auto read = p.Read();
  p.RunUntil(read, milliseconds(10000));
  ASSERT_TRUE(*read);
  EXPECT_EQ(**read, asio::error::operation_aborted);
  EXPECT_TRUE(deadline.expired());
}

TEST(SocketDeadline, ALaterReArmMovesTheDeadlineOut) {
  Pair p;
  SocketDeadline deadline(p.server);
  deadline.Arm(milliseconds(30));
  deadline.Arm(std::chrono::hours(1));  // the timer's wait for 30 ms comes back and waits on
  auto read = p.Read();
  p.RunUntil(read, milliseconds(300));
  EXPECT_FALSE(*read);
  EXPECT_FALSE(deadline.expired());
  p.client.write_some(asio::buffer("x", 1));
  p.RunUntil(read, milliseconds(10000));
  ASSERT_TRUE(*read);
  EXPECT_FALSE(**read);
}

TEST(SocketDeadline, DisarmedItCancelsNothing) {
  Pair p;
  SocketDeadline deadline(p.server);
  deadline.Arm(milliseconds(20));
  deadline.Disarm();
  auto read = p.Read();
  p.RunUntil(read, milliseconds(300));
  EXPECT_FALSE(*read);
  EXPECT_FALSE(deadline.expired());
  // Armed again after it expired once, it starts over.
  deadline.Arm(milliseconds(20));
  p.RunUntil(read, milliseconds(10000));
  ASSERT_TRUE(*read);
  EXPECT_TRUE(deadline.expired());
  deadline.Arm(seconds(10));
  EXPECT_FALSE(deadline.expired());
}

TEST(SocketDeadline, MayGoWhileArmed) {
  Pair p;
  auto read = p.Read();
  {
    SocketDeadline deadline(p.server);
    deadline.Arm(milliseconds(10));
  }
  p.RunUntil(read, milliseconds(200));  // its timer's handler runs after it is gone
  EXPECT_FALSE(*read);
}

}  // namespace
}  // namespace kiln::gateway
