// DESIGN: errors are values across module boundaries. A Status carries a code that
// maps onto an HTTP status at the API edge and a message meant for the user; a
// Result<T> is either a value or a non-OK Status. Crash (KILN_CHECK) only on a broken
// invariant, never on bad input.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace kiln {

enum class Code {
  kOk,
  kInvalidArgument,    // 400
  kUnauthenticated,    // 401
  kPermissionDenied,   // 403
  kNotFound,           // 404
  kMethodNotAllowed,   // 405
  kConflict,           // 409
  kInitFailed,         // 422: a deploy's pre-warm failed in the function's init phase
  kPayloadTooLarge,    // 413
  kResourceExhausted,  // 429
  kInternal,           // 500
  kUnavailable,        // 503
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status OkStatus() { return {}; }
inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// A failed system call: names the call (with its arguments) and errno.
Status ErrnoStatus(const std::string& call, int err = errno);

// The snake_case name of a code, as used in API error bodies.
const char* CodeName(Code code);
int HttpStatusOf(Code code);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {
    if (std::get<Status>(v_).ok()) std::abort();  // an OK status carries no value
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] inline void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "kiln: invariant broken: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace kiln

#define KILN_CHECK(expr) \
  ((expr) ? (void)0 : ::kiln::CheckFailed(#expr, __FILE__, __LINE__))

#define KILN_RETURN_IF_ERROR(expr)           \
  do {                                       \
    ::kiln::Status _st = (expr);             \
    if (!_st.ok()) return _st;               \
  } while (0)

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(_res_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
