// DESIGN: a deadline over one socket's pending operations. beast::tcp_stream's
// deadline closes the socket when it fires; this one only cancels what is pending
// (it completes with operation_aborted and expired() turns true), so the server can
// still answer 408 on the same socket. One per connection, used on the connection's
// executor only (not thread-safe); the socket must outlive it.
//
// Cost: Arm and Disarm are called around every read and write of every request, so
// they only write down the deadline; they touch the timer only when the new deadline
// is earlier than the one the timer waits for (or none is waited for). The timer,
// when it fires, compares with the deadline written down: passed, it cancels the
// socket's operations; not yet (it was re-armed later since), it waits again; disarmed,
// it stops. So a connection's timer wakes about once per timeout, not twice per
// operation, and the warm path makes no timer system call (issue #14's cost line).
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

  // Starts a new deadline `after` from now, replacing any armed one.
  void Arm(std::chrono::steady_clock::duration after);
  void Disarm();
  // Did the last armed deadline fire?
  bool expired() const { return state_->expired; }

 private:
  // Shared with the timer's handler, which may run after this object is gone (the
  // timer lives here, so the last handler to finish frees it).
  struct State {
    State(boost::asio::ip::tcp::socket& s) : socket(&s), timer(s.get_executor()) {}
    boost::asio::ip::tcp::socket* socket;  // null once the SocketDeadline is gone
    boost::asio::steady_timer timer;
    std::chrono::steady_clock::time_point deadline;
    bool armed = false;
    bool expired = false;
    uint64_t wait = 0;     // the generation of the timer's latest wait
    bool waiting = false;  // that wait is pending
  };
  static void WaitUntil(const std::shared_ptr<State>& state, std::chrono::steady_clock::time_point when);

  std::shared_ptr<State> state_;
};

}  // namespace kiln::gateway
