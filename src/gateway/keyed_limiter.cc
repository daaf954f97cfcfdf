#include "gateway/keyed_limiter.h"

#include <utility>

namespace kiln::gateway {

KeyedLimiter::Lease::Lease(Lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}

KeyedLimiter::Lease& KeyedLimiter::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->Release(key_);
    owner_ = std::exchange(other.owner_, nullptr);
    key_ = std::move(other.key_);
  }
  return *this;
}

KeyedLimiter::Lease::~Lease() {
  if (owner_ != nullptr) owner_->Release(key_);
}

std::optional<KeyedLimiter::Lease> KeyedLimiter::TryAcquire(const std::string& key) {
  size_t& n = held_[key];
  if (n >= cap_) return std::nullopt;
  ++n;
  return Lease(this, key);
}

size_t KeyedLimiter::Held(const std::string& key) const {
  auto it = held_.find(key);
  return it == held_.end() ? 0 : it->second;
}

void KeyedLimiter::Release(const std::string& key) {
  auto it = held_.find(key);
  if (it != held_.end() && --it->second == 0) held_.erase(it);
}

}  // namespace kiln::gateway
