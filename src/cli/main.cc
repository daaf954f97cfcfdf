// kiln: the daemon (`kiln serve`) and the client commands, one binary.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "daemon/daemon.h"

int main(int argc, char** argv) {
  CLI::App app{"Kiln: serverless CPU inference, self-hosted"};
  app.require_subcommand(1);
  app.fallthrough();  // `kiln serve --data D`: global options may follow a subcommand
  kiln::cli::Globals g;
  if (const char* d = std::getenv("KILN_DATA"); d && *d) g.data_dir = d;
  app.add_option("--data", g.data_dir, "Data folder (default ./kiln-data; the CLI reads admin.key there)");

  kiln::daemon::DaemonConfig config;
  int64_t max_body_mb = 2, max_bundle_mb = 512;
  int serve_rc = 0;
  auto* serve = app.add_subcommand("serve", "Run the Kiln daemon");
  serve->add_option("--listen", config.listen, "HOST:PORT (default 127.0.0.1:8080)");
  serve->add_option("--max-body-mb", max_body_mb, "Request body cap of user routes (default 2)");
  serve->add_option("--max-bundle-mb", max_bundle_mb, "Unpacked bundle cap (default 512)");
  serve->add_option("--max-bundle-files", config.bundle_limits.max_files, "Bundle file-count cap (default 20000)");
  // Node-wide pool defaults (SPEC §2); each function version may override them.
  kiln::PoolOverrides pool;
  serve->add_option("--min-warm", pool.min_warm, "Warm containers kept per function (default 1)");
  serve->add_option("--max-containers", pool.max_containers, "Containers per function version (default 8)");
  serve->add_option("--queue-size", pool.queue_size, "Requests waiting per function (default 64)");
  serve->add_option("--idle-evict-s", pool.idle_evict_s, "Idle seconds before a container above min goes (default 300)");
  serve->add_option("--scale-to-zero-s", pool.scale_to_zero_s, "Idle seconds before a function scales to zero (default 600)");
  serve->add_option("--recycle-after", pool.recycle_after, "Invocations before a container is replaced (default 1000)");
  serve->add_option("--max-layer-mb", config.max_layer_mb, "Unpacked size cap of a layer (default 2048)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-function-mb", config.max_function_mb,
                    "Unpacked size cap of a bundle and its layers together (default 4096)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--memory-budget-mb", config.memory_budget_mb,
                    "Sum of live containers' memory limits (default 75% of RAM)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--zygote-memory-mb", config.zygote_memory_mb,
                    "Memory limit of each layer zygote, counted in the budget (default 512)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--retention-days", config.retention_days,
                    "Days run, container and pipeline records are kept (default 7)")
      ->check(CLI::PositiveNumber);
  // The front door's limits (SPEC §2).
  int64_t max_request_line_kb = 8, max_header_kb = 32, header_timeout_s = 10, body_timeout_s = 10,
          keepalive_s = 75, write_timeout_s = 30;
  auto& http = config.http;
  serve->add_option("--max-request-line-kb", max_request_line_kb, "Request line cap, 414 over it (default 8)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-header-kb", max_header_kb, "Header fields cap, 431 over it (default 32)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-header-count", http.max_header_count, "Header field count cap, 431 over it (default 100)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--header-timeout-s", header_timeout_s, "Seconds to send a request's header, 408 after (default 10)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--body-timeout-s", body_timeout_s, "Seconds between two reads of a body, 408 after (default 10)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--keepalive-s", keepalive_s, "Idle seconds before a keep-alive connection is closed (default 75)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--write-timeout-s", write_timeout_s, "Seconds to write one response, then closed (default 30)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-requests-per-conn", http.max_requests_per_connection,
                    "Requests per connection before Connection: close (default 1000)")
      ->check(CLI::PositiveNumber);
  auto* max_connections = serve->add_option("--max-connections", http.max_connections,
                                            "Open connections per node (default 10000, or the fd limit minus 128)")
                              ->check(CLI::PositiveNumber);
  serve->add_option("--max-connections-per-ip", http.max_connections_per_address,
                    "Open connections per source address (default 256)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-uploads-per-key", config.max_uploads_per_key,
                    "Bundle and layer uploads at once per API key, 429 beyond (default 2)")
      ->check(CLI::PositiveNumber);
  auto* tls_cert = serve->add_option("--tls-cert", config.tls_cert,
                                     "PEM certificate chain: serve HTTPS only (with --tls-key; reloaded on SIGHUP)")
                       ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", config.tls_key, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile)
      ->needs(tls_cert);
  tls_cert->needs("--tls-key");
  serve->add_option("--audit-retention-days", config.audit_retention_days,
                    "Days audit-log entries are kept (default 90)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--auth-failures-per-s", config.auth_failures.per_second,
                    "Failed authentications a source address may make per second; over it, 429 (default 10)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--auth-failure-burst", config.auth_failures.burst,
                    "Failed authentications a source address may make in a burst (default 20)")
      ->check(CLI::Range(1.0, 1e6));
  serve->add_option("--max-log-followers", config.max_log_followers,
                    "Followers of kiln logs -f at once per node, 429 beyond (default 64)")
      ->check(CLI::PositiveNumber);
  serve->add_flag("--metrics-public", config.metrics_public,
                  "Serve GET /metrics without a key (default: the admin key, a reader, or a key made with --metrics)");
  serve->callback([&] {
    http.max_request_line = static_cast<size_t>(max_request_line_kb) << 10;
    http.max_header_bytes = static_cast<size_t>(max_header_kb) << 10;
    http.header_timeout = std::chrono::seconds(header_timeout_s);
    http.body_timeout = std::chrono::seconds(body_timeout_s);
    http.keepalive = std::chrono::seconds(keepalive_s);
    http.write_timeout = std::chrono::seconds(write_timeout_s);
    config.http_max_connections_set = max_connections->count() > 0;
    if (kiln::Status st = kiln::pool::Validate(config.pool, pool); !st.ok()) {
      g.status = st;
      return;
    }
    config.pool = kiln::pool::Resolve(config.pool, pool);
    config.data_dir = g.data_dir;
    config.max_body_bytes = static_cast<size_t>(max_body_mb) << 20;
    config.bundle_limits.max_bytes = max_bundle_mb << 20;
    serve_rc = kiln::daemon::Serve(config);
  });

  kiln::cli::AddDeploy(app, g);
  kiln::cli::AddFunctions(app, g);
  kiln::cli::AddInvoke(app, g);
  kiln::cli::AddRoute(app, g);
  kiln::cli::AddAudit(app, g);
  kiln::cli::AddKey(app, g);
  kiln::cli::AddSecret(app, g);
  kiln::cli::AddRuns(app, g);
  kiln::cli::AddLogs(app, g);
  kiln::cli::AddLayer(app, g);
  kiln::cli::AddPs(app, g);
  kiln::cli::AddDoctor(app, g);
  kiln::cli::AddPipeline(app, g);
  app.add_subcommand("version", "Print the version")->callback([] { std::printf("kiln %s\n", KILN_VERSION); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Like every other error: one `kiln: ...` line, and 2 for a command line it cannot use.
    std::fprintf(stderr, "kiln: %s (kiln --help lists the commands)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    // An answer of a shape this CLI does not expect (another Kiln version, a bug):
    // one line and a failing exit, never an abort.
    std::fprintf(stderr, "kiln: unexpected answer from kiln: %s\n", e.what());
    return 1;
  }
  if (!g.status.ok()) {
    std::fprintf(stderr, "kiln: %s\n", g.status.message().c_str());
    return 1;
  }
  return serve_rc;
}
