// DESIGN: the one way the pool runs a call that waits on another process (a clone and
// its setup report, a fork source's answer): on the blocking pool, awaited, so the
// I/O thread goes on serving meanwhile (issue #16). The caller resumes on its own
// executor with the call's result.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <utility>

namespace kiln::pool {

template <typename F>
auto OnBlockingPool(boost::asio::any_io_executor blocking, F call) -> boost::asio::awaitable<decltype(call())> {
  std::optional<decltype(call())> out;  // results need not be default-constructible
  co_await boost::asio::co_spawn(
      blocking, [&]() -> boost::asio::awaitable<void> {
        out.emplace(call());
        co_return;
      },
      boost::asio::use_awaitable);
  co_return std::move(*out);
}

}  // namespace kiln::pool
