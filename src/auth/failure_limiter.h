// DESIGN: failed authentication is rate-limited per source (SPEC §1, issue #14): a
// token bucket per address, `per_second` tokens a second up to `burst`. Only failures
// take a token, so a client with a good key is never slowed, and one that presented
// wrong keys gets its room back as the bucket refills. While an address's bucket is
// empty its requests are answered 429 (Retry-After) without their key even being
// checked. IPv6 addresses are counted by /64, the block one host usually holds.
// Buckets that have refilled are dropped when the table reaches `max_sources`; if
// it is still full, failures from new sources go uncounted (so memory stays bounded).
// The clock is injected. Used by the I/O thread only: no lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace kiln::auth {

struct FailureLimit {
  double per_second = 10;
  double burst = 20;
  size_t max_sources = 65536;
};

class FailureLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  FailureLimiter(FailureLimit limit, Clock now) : limit_(limit), now_(std::move(now)) {}

  // Whole seconds until `source` may try a key again (at least 1), while its bucket
  // is empty; nullopt when it may try now.
  std::optional<int64_t> RetryAfter(const std::string& source);
  // A failed authentication from `source`: takes one token.
  void Failed(const std::string& source);

  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  // The bucket's tokens now (refilled for the time since it was last seen).
  double Refill(Bucket& b, std::chrono::steady_clock::time_point now) const;
  void DropFullBuckets(std::chrono::steady_clock::time_point now);

  FailureLimit limit_;
  Clock now_;
  std::unordered_map<std::string, Bucket> buckets_;  // by source (IPv6: its /64)
};

}  // namespace kiln::auth
