#include "daemon/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "control/control_api.h"
#include "control/deployer.h"
#include "daemon/data_dir.h"
#include "daemon/front_door.h"
#include "dispatch/dispatcher.h"
#include "gateway/fd_limit.h"
#include "gateway/tls_context.h"
#include "gateway/user_gateway.h"
#include "layers/layer_builder.h"
#include "pool/pool.h"
#include "registry/blob_store.h"
#include "registry/catalog.h"
#include "runtime/runtime_env.h"
#include "runs/async_runner.h"
#include "runs/pipeline_runner.h"
#include "runs/retention.h"
#include "runs/run_recorder.h"
#include "sandbox/sandbox.h"
#include "common/crypto.h"
#include "common/time_util.h"
#include "secrets/secrets.h"
#include "store/sqlite_secrets.h"
#include "store/sqlite_store.h"

namespace kiln::daemon {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;

int Fatal(const Status& st) {
  spdlog::critical("{}", st.message());
  return 1;
}

std::string WorkerPath() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / "kiln-worker").string();
}

// The admin key lives in <data>/admin.key (0600); made on first start.
Status EnsureAdminKey(Catalog& catalog, const std::string& data_dir) {
  std::string path = data_dir + "/admin.key";
  std::ifstream in(path);
  std::string existing;
  if (in && std::getline(in, existing)) {
    const ApiKeyRecord* key = catalog.Authenticate(existing, NowEpochMs());
    if (key != nullptr && key->role == ControlRole::kAdmin) return OkStatus();
  }
  KILN_ASSIGN_OR_RETURN(auth::NewKey k, catalog.CreateKey("admin", {.role = ControlRole::kAdmin}));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open(" + path + ", 0600)");
  std::string line = k.plaintext + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fchmod(fd, 0600);
  ::close(fd);
  if (!ok) return ErrnoStatus("write(" + path + ")");
  spdlog::info("admin key written to {}", path);
  return OkStatus();
}

constexpr std::chrono::seconds kKeyUseFlushEvery{10};

constexpr const char* kBasePath = "/usr/local/bin:/usr/bin:/bin";

std::vector<std::string> WorkerEnv() {
  std::vector<std::string> env = runtime::InterpreterEnv();
  env.insert(env.end(), {
      "PATH=" + std::string(kBasePath), "LANG=C.UTF-8", "HOME=/tmp", "TMPDIR=/tmp",
      // Libraries that write caches find a writable place on the read-only root.
      "XDG_CACHE_HOME=/tmp/.cache", "NUMBA_CACHE_DIR=/tmp/.cache/numba", "MPLCONFIGDIR=/tmp/.cache/matplotlib",
      "HF_HOME=/tmp/.cache/huggingface", "TORCH_HOME=/tmp/.cache/torch", "JOBLIB_TEMP_FOLDER=/tmp"});
  return env;
}

// What a version's containers get: with the sandbox's own root, the bundle at
// /var/task and each layer under /opt/<name>; without it, their host paths.
Result<pool::ContainerSpec> ContainerSpecOf(const FunctionVersion& fv, const BlobStore& blobs, Store& store,
                                             const layers::LayerBuilder& builder, secrets::Secrets& secrets,
                                             bool own_root) {
  pool::ContainerSpec spec;
  const std::string bundle_host = blobs.PathOf(fv.blob);
  const std::string bundle = own_root ? "/var/task" : bundle_host;
  if (own_root) spec.binds.push_back({bundle_host, bundle});
  nlohmann::json layer_paths = nlohmann::json::array();
  nlohmann::json modules = nlohmann::json::array();  // the zygote's imports
  std::string path = "PATH=" + std::string(kBasePath);
  std::string library_path = "LD_LIBRARY_PATH=" + bundle + "/lib";
  for (const LayerRef& ref : fv.layers) {
    KILN_ASSIGN_OR_RETURN(auto versions, store.ListLayerVersions(ref.name));
    auto it = std::find_if(versions.begin(), versions.end(),
                           [&](const LayerVersion& l) { return l.version == ref.version; });
    if (it == versions.end()) {
      return NotFound("layer " + ref.name + ":" + std::to_string(ref.version) + " is gone");
    }
    const std::string host_root = builder.RootPath(*it);  // python/, lib/, bin/
    const std::string root = own_root ? "/opt/" + ref.name : host_root;
    if (own_root) spec.binds.push_back({host_root, root});
    if (own_root) spec.zygote.binds.push_back({host_root, root});
    layer_paths.push_back(root + "/python");
    spec.zygote.layers.push_back(ref.name + ":" + std::to_string(ref.version));
    for (const PreloadModule& m : it->preload) modules.push_back(m.module);
    std::error_code ec;
    if (fs::is_directory(host_root + "/bin", ec)) path += ":" + root + "/bin";
    if (fs::is_directory(host_root + "/lib", ec)) library_path += ":" + root + "/lib";
  }
  // Lambda's order: the runtime's own folders first, then the layers' (in attach order).
  spec.env = {path, library_path};
  if (fv.start.preload) modules = *fv.start.preload;
  spec.zygote.preload_header = nlohmann::json{{"layer_paths", layer_paths}, {"modules", modules}}.dump();
  // One zygote per environment, layer set and import list.
  std::string identity = spec.zygote.preload_header;
  for (const auto& kv : spec.env) identity += "\n" + kv;
  for (const auto& b : spec.zygote.binds) identity += "\n" + b.source + ">" + b.target;
  spec.zygote.key = Sha256Hex(identity);
  // secret:NAME references become their values here, in the init header only.
  KILN_ASSIGN_OR_RETURN(auto resolved, secrets.Resolve(fv.env));
  nlohmann::json env = resolved;
  env["LAMBDA_TASK_ROOT"] = bundle;
  env["KILN_FUNCTION_NAME"] = fv.function;
  env["KILN_FUNCTION_VERSION"] = std::to_string(fv.version);
  env["KILN_MEMORY_MB"] = std::to_string(fv.memory_mb);
  env["AWS_LAMBDA_FUNCTION_NAME"] = fv.function;
  env["AWS_LAMBDA_FUNCTION_VERSION"] = std::to_string(fv.version);
  env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = std::to_string(fv.memory_mb);
  nlohmann::json init = {{"bundle", bundle},
                         {"handler", fv.handler},
                         {"function_name", fv.function},
                         {"function_version", std::to_string(fv.version)},
                         {"memory_mb", fv.memory_mb},
                         {"layer_paths", layer_paths},
                         {"env", env}};
  spec.init_header = init.dump();
  return spec;
}

// The sandbox: the runtime folders a worker needs, read-only at their own paths.
std::unique_ptr<sandbox::Sandbox> MakeSandbox(const std::string& data_dir, const std::string& worker_path) {
  sandbox::SandboxOptions options;
  options.staging_dir = data_dir + "/run/root";
  std::error_code ec;
  fs::create_directories(options.staging_dir, ec);
  for (const char* p : {"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}) {
    if (fs::exists(fs::symlink_status(p, ec))) options.host_readonly.push_back(p);
  }
  options.host_readonly.push_back(KILN_PYTHON_HOME);
  options.worker = worker_path;
  auto s = sandbox::Sandbox::Create(std::move(options));
  for (const auto& piece : s->report()) {
    if (piece.active) {
      spdlog::info("sandbox: {}: {}", piece.name, piece.detail);
    } else {
      spdlog::warn("sandbox: {}: MISSING ({})", piece.name, piece.detail);
    }
  }
  return s;
}

// SPEC §2: live containers' memory limits together stay under 75 % of RAM.
int64_t DefaultMemoryBudgetMb() {
  int64_t pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? pages / 100 * 75 * page / (1 << 20) : 4096;
}

// Runs, containers and deploys a daemon that died left open are closed now.
Status CloseWhatTheLastDaemonLeftOpen(Store& store) {
  const std::string why = "the daemon stopped while the run was in flight";
  KILN_ASSIGN_OR_RETURN(int64_t runs, store.CloseInterruptedRuns(why));
  if (runs > 0) spdlog::warn("{} runs were in flight when the daemon last stopped: closed as crashed", runs);
  KILN_ASSIGN_OR_RETURN(int64_t containers, store.CloseInterruptedContainers("daemon_stopped"));
  if (containers > 0) spdlog::info("{} containers of the last daemon recorded as gone", containers);
  KILN_ASSIGN_OR_RETURN(int64_t deploys, store.FailInterruptedDeploys("the daemon stopped during the deploy's pre-warm"));
  if (deploys > 0) spdlog::warn("{} deploys were pre-warming when the daemon last stopped: marked failed", deploys);
  return OkStatus();
}

Result<std::pair<std::string, uint16_t>> SplitListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("--listen wants HOST:PORT, got " + listen);
  int port = std::atoi(listen.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return InvalidArgument("--listen: bad port in " + listen);
  return std::make_pair(listen.substr(0, colon), static_cast<uint16_t>(port));
}

}  // namespace

int Serve(const DaemonConfig& config) {
  signal(SIGPIPE, SIG_IGN);  // a worker that dies mid-write must not take the daemon along
  auto listen = SplitListen(config.listen);
  if (!listen.ok()) return Fatal(listen.status());
  std::unique_ptr<gateway::TlsContext> tls;  // before anything starts: a bad pair stops here
  if (!config.tls_cert.empty()) {
    auto loaded = gateway::TlsContext::Load(config.tls_cert, config.tls_key);
    if (!loaded.ok()) return Fatal(loaded.status());
    tls = std::move(loaded).value();
  }
  auto data_lock = TakeDataDir(config.data_dir);  // held until Serve returns
  if (!data_lock.ok()) return Fatal(data_lock.status());
  const std::string db_path = config.data_dir + "/kiln.db";

  auto store = SqliteStore::Open(db_path);
  if (!store.ok()) return Fatal(store.status());
  auto recorder_store = SqliteStore::Open(db_path);
  if (!recorder_store.ok()) return Fatal(recorder_store.status());
  runs::RunRecorder recorder(std::move(recorder_store).value());

  if (Status st = CloseWhatTheLastDaemonLeftOpen(**store); !st.ok()) return Fatal(st);
  auto retention_store = SqliteStore::Open(db_path);
  if (!retention_store.ok()) return Fatal(retention_store.status());
  runs::RetentionConfig retention_config;
  retention_config.keep = std::chrono::milliseconds(static_cast<int64_t>(config.retention_days * 86400000.0));
  auto audit_retention_store = SqliteStore::Open(db_path);
  if (!audit_retention_store.ok()) return Fatal(audit_retention_store.status());
  retention_config.audit_keep = std::chrono::milliseconds(static_cast<int64_t>(config.audit_retention_days * 86400000.0));
  runs::Retention retention(std::move(retention_store).value(), std::move(audit_retention_store).value(),
                            retention_config, NowEpochMs);
  retention.Start();

  auto node_key = LoadOrCreateNodeKey(config.data_dir);
  if (!node_key.ok()) return Fatal(node_key.status());
  auto secret_store = SqliteSecrets::Open(db_path);
  if (!secret_store.ok()) return Fatal(secret_store.status());
  secrets::Secrets secrets(secret_store->get(), std::move(node_key).value());

  Catalog catalog(store->get());
  if (Status st = catalog.Load(); !st.ok()) return Fatal(st);
  if (Status st = EnsureAdminKey(catalog, config.data_dir); !st.ok()) return Fatal(st);
  BlobStore blobs(config.data_dir + "/bundles", config.bundle_limits);
  if (Status st = blobs.Init(); !st.ok()) return Fatal(st);

  asio::io_context io(1);
  asio::thread_pool blocking(2);
  layers::LayerBuilder builder(io.get_executor(), store->get(), config.data_dir, KILN_PYTHON_EXECUTABLE,
                               config.max_layer_mb << 20);

  std::unique_ptr<sandbox::Sandbox> sandbox = MakeSandbox(config.data_dir, WorkerPath());
  pool::PoolConfig pool_config{WorkerPath(), WorkerEnv(), config.pool,
                               config.memory_budget_mb > 0 ? config.memory_budget_mb : DefaultMemoryBudgetMb(),
                               std::chrono::milliseconds(config.init_timeout_ms), std::chrono::milliseconds(250),
                               sandbox.get(), config.zygote_memory_mb, blocking.get_executor()};
  pool::SteadyClock clock;
  pool::Pool pool(
      io.get_executor(), pool_config,
      [&](const FunctionVersion& fv) {
        return ContainerSpecOf(fv, blobs, **store, builder, secrets, sandbox->own_root());
      },
      [&](const ContainerRecord& c) { recorder.EmitContainer(c); }, &clock);
  metrics::FaasMetrics metrics;
  runs::LogStream log_stream(io.get_executor(), config.max_log_followers);
  dispatch::Dispatcher dispatcher(&pool, &recorder, dispatch::Limits{config.max_response_bytes, 64u << 10},
                                  &metrics, &log_stream);
  auto queue_store = SqliteStore::Open(db_path);
  if (!queue_store.ok()) return Fatal(queue_store.status());
  runs::StoreLane queue_lane(std::move(queue_store).value());
  runs::AsyncRunner async(io.get_executor(), &queue_lane, &catalog, &pool, &dispatcher, &recorder, {});
  runs::PipelineConfig pipeline_config;
  pipeline_config.max_event_bytes = config.max_body_bytes;
  runs::PipelineRunner pipelines(io.get_executor(), store->get(), &queue_lane, &catalog, &async, pipeline_config);
  async.SetStepEndHook([&pipelines](const std::string& pipeline_run) { pipelines.Advance(pipeline_run); });
  auth::FailureLimiter failures(config.auth_failures, [] { return std::chrono::steady_clock::now(); });
  control::Deployer deployer(&catalog, store->get(), &pool, &recorder);
  gateway::TrafficCounters traffic;
  control::ControlApi control({&catalog, store->get(), &blobs, &builder, &recorder, &dispatcher, &async,
                               &pipelines, &pool, sandbox.get(), &secrets, store->get(), &failures, blocking.get_executor(),
                               &deployer, {config.max_function_mb << 20}, &metrics, &log_stream, config.metrics_public, &traffic});
  gateway::UserGateway user(&catalog, &failures, &dispatcher, &async, config.max_body_bytes);
  const std::string spool = config.data_dir + "/uploads";
  if (Status st = PrepareSpool(spool); !st.ok()) return Fatal(st);
  FrontDoor front(&control, &user,
                  {static_cast<size_t>(config.bundle_limits.max_bytes), static_cast<size_t>(config.max_layer_mb) << 20,
                   spool, config.max_uploads_per_key});
  gateway::HttpLimits http = config.http;
  auto fds = gateway::RaiseOpenFileLimit();
  if (!fds.ok()) return Fatal(fds.status());
  if (!config.http_max_connections_set) http.max_connections = gateway::ConnectionCap(http.max_connections, *fds);
  if (http.max_connections + gateway::kFdReserve > *fds) {
    spdlog::warn("--max-connections {} leaves fewer than {} of the {} file descriptors for the rest",
                 http.max_connections, gateway::kFdReserve, *fds);
  }
  gateway::HttpServer server(io, &front, http, &traffic, tls.get());
  if (Status st = server.Listen(listen->first, listen->second); !st.ok()) return Fatal(st);

  // Keys' last uses go to the store every few seconds, never on the request (Catalog).
  asio::steady_timer key_use_timer(io);
  std::function<void()> flush_key_use = [&] {
    key_use_timer.expires_after(kKeyUseFlushEvery);
    key_use_timer.async_wait([&](boost::system::error_code ec) {
      if (Status st = catalog.FlushKeyUse(); !st.ok()) spdlog::warn("key last use: {}", st.message());
      if (!ec) flush_key_use();
    });
  };
  flush_key_use();

  // SIGHUP: the certificate and key are read again (a renewed certificate), for new
  // connections; a pair that does not load leaves the current one serving.
  asio::signal_set reload(io, SIGHUP);
  std::function<void()> on_reload = [&] {
    reload.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      if (!tls) {
        spdlog::info("SIGHUP: nothing to reload (no --tls-cert)");
      } else if (Status st = tls->Reload(); st.ok()) {
        spdlog::info("SIGHUP: TLS certificate reloaded ({})", tls->subject());
      } else {
        spdlog::error("SIGHUP: TLS certificate not reloaded, the previous one still serves: {}", st.message());
      }
      on_reload();
    });
  };
  on_reload();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int sig) {
    // Graceful: no new connections, open ones closed, containers killed (a request
    // in flight ends as crashed); the loop then runs dry and everything unwinds in
    // order, with no coroutine left holding a component.
    spdlog::info("signal {}: stopping", sig);
    server.Stop();
    reload.cancel();
    key_use_timer.cancel();
    async.Stop();
    pipelines.Stop();
    pool.Shutdown();
  });
  spdlog::info("kiln serving on {}://{} (data {}, worker {}, memory budget {} MB, {} connections, {} fds)",
               tls ? "https" : "http", config.listen, config.data_dir, pool_config.worker_path, pool_config.memory_budget_mb,
               http.max_connections, *fds);
  // Every function's serving version gets its min_warm containers, now and whenever the
  // catalog changes what should be warm.
  catalog.OnAspiredChange([&pool](const std::vector<FunctionVersion>& aspired) { pool.SetAspired(aspired); });
  pool.StartReconciling();
  if (Status st = async.Start(); !st.ok()) return Fatal(st);
  pipelines.Start();
  io.run();
  blocking.join();
  if (Status st = catalog.FlushKeyUse(); !st.ok()) spdlog::warn("key last use: {}", st.message());
  spdlog::info("stopped");
  return 0;
}

}  // namespace kiln::daemon
