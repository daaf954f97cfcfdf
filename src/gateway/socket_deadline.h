// DESIGN: a deadline over one socket's pending operations. beast::tcp_stream's
// deadline closes the socket when it fires; this one only cancels what is pending
// (it completes with operation_aborted and expired() turns true), so the server can
// still answer 408 on the same socket. Re-arming starts a new deadline; a late
// firing of an older one is ignored. One per connection, used on the connection's
// executor only (not thread-safe); the socket must outlive it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

namespace kiln::gateway {

class SocketDeadline {
 public:
  explicit SocketDeadline(boost::asio::ip::tcp::socket& socket);
  ~SocketDeadline();
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;

  void Arm(std::chrono::steady_clock::duration after);
  void Disarm();
  // Did the last armed deadline fire?
  bool expired() const { return state_->expired; }

 private:
  // Shared with the timer's handler, which may run after this object is gone.
  struct State {
    boost::asio::ip::tcp::socket* socket;
    uint64_t generation = 0;
    bool expired = false;
  };
  std::shared_ptr<State> state_;
  boost::asio::steady_timer timer_;
};

}  // namespace kiln::gateway
