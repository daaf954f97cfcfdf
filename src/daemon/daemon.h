// DESIGN: `kiln serve`. Wires the components, top to bottom:
//
//   HttpServer -> FrontDoor -> ControlApi | UserGateway -> Dispatcher -> Pool
//        -> Container -> (fork/exec) kiln-worker ; Dispatcher -> RunRecorder -> Store
//
// Threads: one I/O thread runs every connection, the catalog, the pool and the
// containers (no locks on the request path); a small blocking pool unpacks bundles;
// the run recorder writes runs on its own thread and store connection; each layer
// build runs pip on a thread of its own. SIGINT/SIGTERM stop it: no new connections,
// containers killed, queued run records written.
#pragma once

#include <cstdint>
#include <string>

#include "gateway/http_limits.h"
#include "auth/failure_limiter.h"
#include "pool/pool_settings.h"
#include "registry/bundle_extractor.h"

namespace kiln::daemon {

struct DaemonConfig {
  std::string data_dir = "./kiln-data";
  std::string listen = "127.0.0.1:8080";
  bool metrics_public = false;  // GET /metrics without a key
  size_t max_log_followers = 64;  // kiln logs -f at once
  size_t max_body_bytes = 2u << 20;
  size_t max_response_bytes = 6u << 20;
  ExtractLimits bundle_limits;
  pool::PoolSettings pool;        // node defaults; versions may override
  int64_t memory_budget_mb = 0;   // 0: 75 % of the machine's RAM
  int64_t init_timeout_ms = 60000;
  int64_t max_layer_mb = 2048;     // one layer, unpacked
  int64_t max_function_mb = 4096;  // bundle + layers, unpacked
  int64_t zygote_memory_mb = 512;  // each layer zygote's limit, counted in the budget
  double retention_days = 7;       // run, container and pipeline records are deleted after
  // The front door (SPEC §2). max_connections is lowered to what the fd limit allows
  // unless set explicitly (http_max_connections_set).
  gateway::HttpLimits http;
  bool http_max_connections_set = false;
  size_t max_uploads_per_key = 2;  // bundle and layer uploads at once, per API key
  // TLS on the listener (both set) or plain HTTP (neither).
  std::string tls_cert;
  std::string tls_key;
  double audit_retention_days = 90;  // audit entries are deleted after
  auth::FailureLimit auth_failures;  // failed authentications per source address
};

// Runs until a stop signal; returns the process exit code.
int Serve(const DaemonConfig& config);

}  // namespace kiln::daemon
