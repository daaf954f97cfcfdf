#include "gateway/socket_deadline.h"

namespace kiln::gateway {

SocketDeadline::SocketDeadline(boost::asio::ip::tcp::socket& socket)
    : state_(std::make_shared<State>(State{&socket})), timer_(socket.get_executor()) {}

SocketDeadline::~SocketDeadline() {
  state_->socket = nullptr;
  timer_.cancel();
}

void SocketDeadline::Arm(std::chrono::steady_clock::duration after) {
  const uint64_t generation = ++state_->generation;
  state_->expired = false;
  timer_.expires_after(after);
  timer_.async_wait([state = state_, generation](const boost::system::error_code& ec) {
    if (ec || state->socket == nullptr || state->generation != generation) return;
    state->expired = true;
    boost::system::error_code ignored;
    state->socket->cancel(ignored);
  });
}

void SocketDeadline::Disarm() {
  ++state_->generation;
  timer_.cancel();
}

}  // namespace kiln::gateway
