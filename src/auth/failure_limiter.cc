#include "auth/failure_limiter.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cmath>

namespace kiln::auth {
namespace {

std::string SourceKey(const std::string& address) {
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(address, ec);
  if (ec || !ip.is_v6() || ip.to_v6().is_v4_mapped()) return address;
  auto bytes = ip.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace

double FailureLimiter::Refill(Bucket& b, std::chrono::steady_clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(limit_.burst, b.tokens + std::max(0.0, elapsed) * limit_.per_second);
  b.at = now;
  return b.tokens;
}

std::optional<int64_t> FailureLimiter::RetryAfter(const std::string& source) {
  if (buckets_.empty()) return std::nullopt;  // the common case: no recent failure at all
  auto it = buckets_.find(SourceKey(source));
  if (it == buckets_.end()) return std::nullopt;
  double tokens = Refill(it->second, now_());
  if (tokens >= 1) return std::nullopt;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - tokens) / limit_.per_second)));
}

void FailureLimiter::Failed(const std::string& source) {
  const auto now = now_();
  std::string key = SourceKey(source);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limit_.max_sources) DropFullBuckets(now);
    if (buckets_.size() >= limit_.max_sources) return;
    it = buckets_.emplace(std::move(key), Bucket{limit_.burst, now}).first;
  }
  Refill(it->second, now);
  it->second.tokens = std::max(0.0, it->second.tokens - 1);
}

void FailureLimiter::DropFullBuckets(std::chrono::steady_clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = Refill(it->second, now) >= limit_.burst ? buckets_.erase(it) : std::next(it);
  }
}

}  // namespace kiln::auth
