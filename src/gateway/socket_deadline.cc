#include "gateway/socket_deadline.h"

namespace kiln::gateway {

SocketDeadline::SocketDeadline(boost::asio::ip::tcp::socket& socket) : state_(std::make_shared<State>(socket)) {}

SocketDeadline::~SocketDeadline() {
  state_->socket = nullptr;
  state_->armed = false;
  state_->timer.cancel();
}

void SocketDeadline::Arm(std::chrono::steady_clock::duration after) {
  State& s = *state_;
  s.deadline = std::chrono::steady_clock::now() + after;
  s.armed = true;
  s.expired = false;
  // A pending wait that ends no later than the deadline will look at it then.
  if (!s.waiting || s.timer.expiry() > s.deadline) WaitUntil(state_, s.deadline);
}

void SocketDeadline::Disarm() { state_->armed = false; }

void SocketDeadline::WaitUntil(const std::shared_ptr<State>& state, std::chrono::steady_clock::time_point when) {
  // expires_at ends a pending wait early (operation_aborted): its generation is then
  // an old one, and its handler does nothing.
  state->timer.expires_at(when);
  const uint64_t generation = ++state->wait;
  state->waiting = true;
  state->timer.async_wait([state, generation](const boost::system::error_code& ec) {
    if (state->wait != generation) return;
    state->waiting = false;
    if (ec || state->socket == nullptr || !state->armed) return;
    if (std::chrono::steady_clock::now() < state->deadline) {
      WaitUntil(state, state->deadline);  // re-armed later since this wait began
      return;
    }
    state->expired = true;
    state->armed = false;
    boost::system::error_code ignored;
    state->socket->cancel(ignored);
  });
}

}  // namespace kiln::gateway
