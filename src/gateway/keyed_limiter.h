// DESIGN: counts holders per key (a source address, an API key id) under one cap. A
// Lease is one holder; destroying it gives its place back, so a place cannot leak on
// any path out of a coroutine. Not thread-safe: the HTTP server uses it on its I/O
// thread only. The limiter must outlive its leases.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

namespace kiln::gateway {

class KeyedLimiter {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

   private:
    friend class KeyedLimiter;
    Lease(KeyedLimiter* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    KeyedLimiter* owner_;
    std::string key_;
  };

  explicit KeyedLimiter(size_t cap) : cap_(cap) {}

  // A place for `key`, or nothing when it holds `cap` already.
  std::optional<Lease> TryAcquire(const std::string& key);
  size_t Held(const std::string& key) const;
  size_t cap() const { return cap_; }

 private:
  void Release(const std::string& key);

  size_t cap_;
  std::unordered_map<std::string, size_t> held_;  // keys with at least one holder
};

}  // namespace kiln::gateway
