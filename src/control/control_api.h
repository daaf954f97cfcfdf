// DESIGN: the control API under /v1/ (docs/API.md). Admit decides from the header
// alone who may call what: failed-authentication limit (429), key (401), then the
// role table of access_table.h (403). Every request that is not a GET and comes with
// a valid key is written to the audit log after it is answered, whatever the
// endpoint, so endpoints added later are audited with no code of their own; bodies
// never are. Handlers run on the I/O thread and use the I/O thread's store connection
// through the catalog; slow filesystem work (unpacking a bundle) runs on the blocking
// executor and resumes here. Errors leave as {"error":{"code","message"}} with the
// status of their code.
#pragma once

#include <any>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "auth/failure_limiter.h"
#include "control/deployer.h"
#include "gateway/traffic_counters.h"
#include "metrics/faas_metrics.h"
#include "dispatch/dispatcher.h"
#include "runs/async_runner.h"
#include "runs/pipeline_runner.h"
#include "gateway/http_server.h"
#include "layers/layer_builder.h"
#include "pool/pool.h"
#include "sandbox/sandbox.h"
#include "registry/blob_store.h"
#include "registry/catalog.h"
#include "runs/run_recorder.h"
#include "runs/log_stream.h"
#include "runs/run_stats.h"
#include "secrets/secrets.h"
#include "store/audit_log.h"

namespace kiln::control {

namespace asio = boost::asio;
using gateway::Request;
using gateway::Response;

struct ControlLimits {
  int64_t max_function_bytes = 4ll << 30;  // bundle + layers, unpacked
};

struct ControlDeps {
  Catalog* catalog;
  Store* store;  // the I/O thread's connection
  BlobStore* blobs;
  layers::LayerBuilder* layers;
  runs::RunRecorder* recorder;
  dispatch::Dispatcher* dispatcher;
  runs::AsyncRunner* async;
  runs::PipelineRunner* pipelines;
  pool::Pool* pool;
  const sandbox::Sandbox* sandbox;
  secrets::Secrets* secrets;
  AuditLog* audit;                  // the I/O thread's connection
  auth::FailureLimiter* failures;   // shared with the user gateway
  asio::any_io_executor blocking;  // for filesystem-heavy work
  Deployer* deployer;
  ControlLimits limits;
  metrics::FaasMetrics* metrics;
  runs::LogStream* logs;
  bool metrics_public = false;  // GET /metrics without a key (kiln serve --metrics-public)
  const gateway::TrafficCounters* traffic;  // the front door's, for /metrics
};

class ControlApi {
 public:
  explicit ControlApi(ControlDeps deps) : d_(deps) {}

  // The refusal of a request, decided from its header alone (401, 403, 429) before its
  // body is read, or nothing; then `admitted` holds the caller (a Caller), which Handle
  // expects in RequestInfo::admitted.
  std::optional<Response> Admit(const gateway::RequestHeader& header, const gateway::RequestInfo& info,
                                std::any* admitted);
  asio::awaitable<Response> Handle(Request req, const gateway::RequestInfo& info);
  // GET /v1/logs?function=F&follow=true, once Admit let it in: the stream to answer
  // with (FrontDoor hands it to the connection), or why not (404, 429).
  static bool AsksToFollowLogs(const gateway::RequestHeader& header);
  Result<std::unique_ptr<gateway::ResponseStream>> FollowLogs(const gateway::RequestHeader& header);

 private:
  using Segments = std::vector<std::string>;
  // Who Admit let in: the valid key presented, if the operation needed one.
  struct Caller {
    std::optional<ApiKeyRecord> key;
  };
  struct Access {
    const ApiKeyRecord* key = nullptr;  // the valid key presented, if any
    std::optional<Response> refusal;
  };
  Access Check(const gateway::RequestHeader& header, const gateway::RequestInfo& info);
  void Audit(const gateway::RequestHeader& req, const gateway::RequestInfo& info, const ApiKeyRecord& key, const Segments& seg,
             const Response& res);
  asio::awaitable<Response> Route(Request& req, const gateway::RequestInfo& info, const Segments& seg);
  // The archive arrives spooled to a file (RequestInfo::body_file).
  asio::awaitable<Response> PutBlob(const std::string& archive_path);
  // function_endpoints.cc
  asio::awaitable<Response> CreateVersion(const std::string& name, const std::string& body);
  Result<FunctionVersion> ParseVersion(const std::string& name, const nlohmann::json& j);
  Result<nlohmann::json> ListContainers(const Request& req);
  nlohmann::json ListForkSources();
  nlohmann::json Doctor() const;
  asio::awaitable<Response> Invoke(Request& req, const std::string& name);
  Result<nlohmann::json> CreateRoute(const std::string& body);
  Result<nlohmann::json> ListRuns(const Request& req);
  Result<nlohmann::json> GetRun(const std::string& id);
  // log_endpoints.cc: GET /v1/logs
  Result<nlohmann::json> ListLogs(const Request& req);
  // GET /metrics: the Prometheus text exposition.
  Response Metrics(unsigned version);
  // function_views.cc: kiln ls, kiln describe, the stats API
  Result<nlohmann::json> ListFunctions();
  Result<nlohmann::json> GetFunction(const std::string& name);
  Result<nlohmann::json> GetStats(const std::string& name, const Request& req);
  // From the store as it is (Handle flushed the recorder before a GET).
  Result<runs::FunctionStats> StatsOf(const std::string& name, int64_t window_ms, int64_t bucket_ms);
  // lifecycle_endpoints.cc
  Response RemoveFunction(const std::string& name, const Request& req);
  Response RemoveVersion(const std::string& name, const std::string& version);
  asio::awaitable<Response> Rollback(const std::string& name, const std::string& body);
  Result<nlohmann::json> SetRoute(const std::string& id, const std::string& body);
  // key_endpoints.cc
  Result<nlohmann::json> CreateKey(const std::string& body);
  Result<nlohmann::json> RotateKey(const std::string& id, const std::string& body);
  Result<nlohmann::json> ListAudit(const Request& req);
  // layer_endpoints.cc
  Result<nlohmann::json> StartLayerBuild(const std::string& name, const std::string& body);
  Result<nlohmann::json> ListLayers(const std::string& name);
  asio::awaitable<Response> PushLayer(const std::string& archive_path, const std::string& name);
  Response RemoveLayer(const std::string& name, std::optional<int64_t> version);
  // pipeline_endpoints.cc
  Result<nlohmann::json> PutPipeline(const std::string& name, const std::string& body, bool* created);
  Result<nlohmann::json> ListPipelines();
  Result<nlohmann::json> GetPipeline(const std::string& name);
  asio::awaitable<Response> StartPipelineRun(const Request& req, const std::string& name);
  Result<nlohmann::json> ListPipelineRuns(const std::string& name, const Request& req);
  Result<nlohmann::json> GetPipelineRun(const std::string& id);
  // secret_endpoints.cc: /v1/secrets[/{name}]
  Response SecretEndpoint(boost::beast::http::verb m, const Segments& seg, const std::string& body);

  ControlDeps d_;
};

// Shared by the endpoint files.
Result<nlohmann::json> ParseObject(const std::string& body);
Response Json(unsigned status, const nlohmann::json& body);
Response FromResult(unsigned ok_status, const Result<nlohmann::json>& r);
Response NoContent();
// 422 init_failed: a deploy's or a rollback's pre-warm failed; names the run record.
Response InitFailedResponse(const DeployFailed& failed);
// A pre-warm as deploy and rollback answers show it; null when nothing was pre-warmed.
nlohmann::json PrewarmJson(const pool::PrewarmReport& report, const FunctionVersion& v);
std::string QueryParam(std::string_view target, const std::string& key);
// A string list field, or an error naming it.
Result<std::vector<std::string>> StringList(const nlohmann::json& j, const char* field);

}  // namespace kiln::control
