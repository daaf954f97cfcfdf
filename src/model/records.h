// DESIGN: the records Kiln keeps, as plain values. Every layer above the store speaks
// these types; JSON conversion (the API's shapes, docs/API.md) lives beside them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace kiln {

struct LayerRef {
  std::string name;
  int64_t version = 0;
};

// A version's own pool settings; an unset field follows the node's default.
struct PoolOverrides {
  std::optional<int64_t> min_warm;
  std::optional<int64_t> max_containers;
  std::optional<int64_t> queue_size;
  std::optional<double> idle_evict_s;
  std::optional<double> scale_to_zero_s;
  std::optional<int64_t> recycle_after;
};

// How a version's containers start (issue #7). By default a container is forked from
// the zygote of its layer set (an interpreter that imported the layers' preloadable
// modules); `zygote: false` starts a fresh interpreter instead. `snapshot: true` makes
// the first container to have served a request the version's template, and later
// containers are forked from it with the handler already imported and called. `preload` replaces the layers'
// manifest lists of modules the zygote imports.
struct StartOptions {
  bool zygote = true;
  bool snapshot = false;
  std::optional<std::vector<std::string>> preload;
};

// Background (async) runs of a version (SPEC §4, §6; issue #6).
struct AsyncOptions {
  int64_t timeout_ms = 900000;      // each attempt's budget, independent of the sync timeout
  int64_t retries = 2;              // further attempts after a timeout, oom or crash
  bool retry_on_error = false;      // handler errors are retried too
  int64_t max_event_age_s = 21600;  // a run still queued after this fails as expired
  int64_t max_queued = 100000;      // queued runs of the function; past it, 429
};

// starting: recorded, its pre-warm under way (routes do not follow it yet);
// ready: routes may follow it; failed: its init failed at deploy (kept as history).
enum class VersionState { kStarting, kReady, kFailed };
const char* VersionStateName(VersionState s);
std::optional<VersionState> ParseVersionState(const std::string& s);

// An env value of this form names a secret (secrets/secrets.h): `secret:NAME`.
constexpr std::string_view kSecretReferencePrefix = "secret:";

// One immutable, numbered version of a function.
struct FunctionVersion {
  std::string function;
  int64_t version = 0;
  std::string blob;  // "sha256:<hex>" of the bundle archive
  std::string handler = "handler.handler";
  std::string runtime = "python3.11";
  std::vector<LayerRef> layers;
  int64_t memory_mb = 256;
  int64_t timeout_ms = 5000;
  std::map<std::string, std::string> env;
  PoolOverrides pool;
  StartOptions start;
  AsyncOptions async;
  VersionState state = VersionState::kReady;
  std::string state_message;  // why it failed
  int64_t created_at = 0;     // epoch ms
};

enum class RouteAuth { kKey, kNone };
enum class RouteMode { kSync, kAsync };
// What a caller sees of a failed run: generic, only {"error":"internal","run_id"}
// (the default on auth: none routes); detailed, the errorType and errorMessage (the
// default on keyed routes). The run record always has the full error.
enum class RouteErrors { kGeneric, kDetailed };

struct Route {
  int64_t id = 0;
  std::string method;
  std::string path;
  std::string function;
  std::optional<int64_t> version;  // pinned version; nullopt follows the latest
  RouteAuth auth = RouteAuth::kKey;
  RouteMode mode = RouteMode::kSync;
  RouteErrors errors = RouteErrors::kDetailed;
  int64_t created_at = 0;
};

// What a key may do on the control API, each role including the ones before it:
// reader (GETs), deployer (functions, routes, layers, pipelines), admin (everything,
// keys and secrets too). docs/API.md has the table.
enum class ControlRole { kNone, kReader, kDeployer, kAdmin };

// An API key as stored: the secret only as its SHA-256.
struct ApiKeyRecord {
  std::string id;  // the 8 characters after "kiln_"
  std::string name;
  std::string secret_sha256;
  std::vector<std::string> routes;
  std::vector<std::string> functions;
  ControlRole role = ControlRole::kNone;
  bool metrics = false;  // may read GET /metrics (a reader role may too)
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;  // epoch ms; unset: never
  // After a rotation, the previous secret's hash, accepted until previous_valid_until.
  std::string previous_sha256;
  int64_t previous_valid_until = 0;
  std::optional<int64_t> last_used_at;  // epoch ms of the last accepted use
  bool legacy = false;  // its secret was issued in the old format, without a checksum
};

// One installed distribution of a layer, as its metadata says.
struct LayerDistribution {
  std::string name;
  std::string version;
  std::vector<std::string> top_level;  // importable top-level names
};

// A module a zygote imports for the layer, and what importing it cost at build time.
struct PreloadModule {
  std::string module;
  double import_ms = 0;
};
// A top-level module that is not imported ahead, and why (it started a thread, failed
// to import, ...).
struct SkippedModule {
  std::string module;
  std::string reason;
};

struct LayerVersion {
  std::string name;
  int64_t version = 0;
  std::string digest;  // "sha256:<hex>": requirements + resolved set (build), or the archive (push)
  std::string requirements;
  std::vector<std::string> packages;  // "name==version", as pip resolved them
  int64_t size_bytes = 0;
  int64_t created_at = 0;
  std::string source = "build";  // build | push
  std::vector<LayerDistribution> distributions;
  std::vector<std::string> modules;  // what python/ holds at its top level
  std::vector<PreloadModule> preload;         // fork-safe to import ahead, in import order
  std::vector<SkippedModule> not_preloaded;   // the other top-level modules, with the reason
};

enum class RunStatus {
  kOk, kError, kTimeout, kOom, kCrashed, kThrottled, kRejected, kQueued, kRunning,
  kResultTooLarge, kExpired,
};
const char* RunStatusName(RunStatus s);
std::optional<RunStatus> ParseRunStatus(std::string_view s);

struct RunRecord {
  std::string id;
  std::string function;
  int64_t version = 0;
  std::string trigger = "http";  // http | async | pipeline | cli
  std::string route;             // "POST /predict", empty when not routed
  int64_t started_at = 0;        // epoch ms
  double duration_ms = 0;
  std::optional<double> init_ms;  // cold runs only
  bool cold = false;
  std::string container_id;
  RunStatus status = RunStatus::kOk;
  int http_status = 0;
  int64_t request_bytes = 0;
  int64_t response_bytes = 0;
  std::string result;  // at most kStoredResultChars characters
  bool truncated = false;
  std::string error_type;
  std::string error_message;
  std::string logs;
  double max_memory_mb = 0;
  int attempt = 1;
  double queue_ms = 0;  // time spent waiting for a container
  // Cold runs whose container was made: making its process and containing it
  // (sandbox/worker_spawner.h, StartPhases); the init phase is init_ms.
  std::optional<double> fork_ms, sandbox_ms;
  std::string start;       // cold runs: how the container started (plain, zygote, snapshot)
  std::string start_note;  // why it started another way than asked (a zygote was broken, ...)
  int64_t stands_for = 1;  // throttled: how many requests this one record stands for
};

// How a cold start's container started (RunRecord::start names it).
enum class StartMode : uint8_t { kPlain, kZygote, kSnapshot };
constexpr size_t kStartModes = 3;
const char* StartModeName(StartMode m);
// "" (a record made before start modes) is plain; an unknown name is nullopt.
std::optional<StartMode> ParseStartMode(std::string_view s);

// The figures of one run that statistics read (runs/run_stats.h).
struct RunSample {
  int64_t started_at = 0;  // epoch ms
  RunStatus status = RunStatus::kOk;
  bool cold = false;
  double duration_ms = 0;
  std::optional<double> init_ms;
  StartMode start = StartMode::kPlain;  // cold runs only
  int64_t stands_for = 1;
};

// One container's life, as kept after it is gone (`kiln ps --all`).
struct ContainerRecord {
  std::string id;
  std::string function;
  int64_t version = 0;
  int64_t pid = 0;
  int64_t started_at = 0;             // epoch ms
  std::optional<int64_t> ended_at;    // epoch ms; unset while it lives
  std::optional<double> init_ms;
  int64_t invocations = 0;
  std::string reason;  // why it left: idle, scale_to_zero, recycled, budget, crashed, ...
  std::string detail;  // how the process ended, when it matters
  std::string start;   // plain, zygote or snapshot
};

void to_json(nlohmann::json& j, const LayerRef& v);
void to_json(nlohmann::json& j, const PoolOverrides& v);
void to_json(nlohmann::json& j, const StartOptions& v);
void to_json(nlohmann::json& j, const AsyncOptions& v);
void from_json(const nlohmann::json& j, AsyncOptions& v);  // no range checks
void from_json(const nlohmann::json& j, StartOptions& v);  // no checks
void to_json(nlohmann::json& j, const PreloadModule& v);
void from_json(const nlohmann::json& j, PreloadModule& v);
void to_json(nlohmann::json& j, const SkippedModule& v);
void from_json(const nlohmann::json& j, SkippedModule& v);
void from_json(const nlohmann::json& j, PoolOverrides& v);  // no range checks
// Env values never leave the daemon (issue #15): "env" lists the names only, and
// "env_secrets" names the secret behind each `secret:NAME` value.
void to_json(nlohmann::json& j, const FunctionVersion& v);
// Whether a new version would run exactly as `serving` does: the same bundle, handler,
// runtime, layers (pinned versions), budgets, env and settings.
bool SameDeployment(const FunctionVersion& serving, const FunctionVersion& candidate);
void to_json(nlohmann::json& j, const Route& v);
// Never includes the hash.
void to_json(nlohmann::json& j, const ApiKeyRecord& v);
void to_json(nlohmann::json& j, const LayerDistribution& v);
void from_json(const nlohmann::json& j, LayerDistribution& v);
void to_json(nlohmann::json& j, const LayerVersion& v);
void to_json(nlohmann::json& j, const RunRecord& v);
void to_json(nlohmann::json& j, const ContainerRecord& v);

// Names of functions, layers and pipelines: [A-Za-z0-9_-], 1 to 64 characters.
bool ValidName(const std::string& name);
// Environment variable names: [A-Za-z_][A-Za-z0-9_]*.
bool ValidEnvKey(const std::string& key);

const char* RouteAuthName(RouteAuth a);
const char* RouteModeName(RouteMode m);
const char* RouteErrorsName(RouteErrors e);

constexpr size_t kMaxRoutePathBytes = 1024;
// A route path: '/' then RFC 3986 path characters only (unreserved, %XX, sub-delims,
// ':', '@', '/'), at most kMaxRoutePathBytes; InvalidArgument saying why otherwise.
Status CheckRoutePath(const std::string& path);
// "admin", "deployer", "reader"; "" for kNone.
const char* ControlRoleName(ControlRole r);
std::optional<ControlRole> ParseControlRole(const std::string& s);

}  // namespace kiln
