// DESIGN: the front door's limits (SPEC §2), one struct the daemon fills from
// `kiln serve` flags and HttpServer applies to every connection. Sizes in bytes.
#pragma once

#include <chrono>
#include <cstddef>

namespace kiln::gateway {

struct HttpLimits {
  size_t max_request_line = 8u << 10;   // 414 over it (--max-request-line-kb)
  size_t max_header_bytes = 32u << 10;  // all fields; 431 over it (--max-header-kb)
  size_t max_header_count = 100;        // 431 over it (--max-header-count)
  std::chrono::seconds header_timeout{10};  // to read a header once its first byte came; 408
  std::chrono::seconds body_timeout{10};    // between two reads of a body; 408
  std::chrono::seconds keepalive{75};       // idle between requests; closed silently
  std::chrono::seconds write_timeout{30};   // to write one response; closed
  size_t max_requests_per_connection = 1000;  // then `Connection: close`
  size_t max_connections = 10000;             // per node; lowered to what the fd limit allows
  size_t max_connections_per_address = 256;   // per source address
};

}  // namespace kiln::gateway
