#include "model/records.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/time_util.h"

namespace kiln {

namespace {

nlohmann::json EnvNames(const std::map<std::string, std::string>& env) {
  nlohmann::json names = nlohmann::json::array();
  for (const auto& [name, value] : env) names.push_back(name);
  return names;
}

constexpr const char* kRunStatusNames[] = {
    "ok", "error", "timeout", "oom", "crashed", "throttled", "rejected", "queued", "running",
    "result_too_large", "expired"};
}  // namespace

const char* RunStatusName(RunStatus s) { return kRunStatusNames[static_cast<int>(s)]; }

const char* StartModeName(StartMode m) {
  switch (m) {
    case StartMode::kPlain: return "plain";
    case StartMode::kZygote: return "zygote";
    case StartMode::kSnapshot: return "snapshot";
  }
  return "plain";
}

std::optional<StartMode> ParseStartMode(std::string_view s) {
  if (s.empty() || s == "plain") return StartMode::kPlain;
  if (s == "zygote") return StartMode::kZygote;
  if (s == "snapshot") return StartMode::kSnapshot;
  return std::nullopt;
}

std::optional<RunStatus> ParseRunStatus(std::string_view s) {
  for (int i = 0; i < static_cast<int>(std::size(kRunStatusNames)); ++i) {
    if (s == kRunStatusNames[i]) return static_cast<RunStatus>(i);
  }
  return std::nullopt;
}

const char* VersionStateName(VersionState s) {
  switch (s) {
    case VersionState::kStarting: return "starting";
    case VersionState::kReady: return "ready";
    case VersionState::kFailed: return "failed";
  }
  return "failed";
}

std::optional<VersionState> ParseVersionState(const std::string& s) {
  for (VersionState v : {VersionState::kStarting, VersionState::kReady, VersionState::kFailed}) {
    if (s == VersionStateName(v)) return v;
  }
  return std::nullopt;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

bool ValidEnvKey(const std::string& key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  return std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

const char* ControlRoleName(ControlRole r) {
  switch (r) {
    case ControlRole::kNone: return "";
    case ControlRole::kReader: return "reader";
    case ControlRole::kDeployer: return "deployer";
    case ControlRole::kAdmin: return "admin";
  }
  return "";
}

std::optional<ControlRole> ParseControlRole(const std::string& s) {
  for (ControlRole r : {ControlRole::kReader, ControlRole::kDeployer, ControlRole::kAdmin}) {
    if (s == ControlRoleName(r)) return r;
  }
  return std::nullopt;
}

const char* RouteAuthName(RouteAuth a) { return a == RouteAuth::kKey ? "key" : "none"; }
const char* RouteModeName(RouteMode m) { return m == RouteMode::kSync ? "sync" : "async"; }
const char* RouteErrorsName(RouteErrors e) { return e == RouteErrors::kGeneric ? "generic" : "detailed"; }

Status CheckRoutePath(const std::string& path) {
  if (path.empty() || path[0] != '/') return InvalidArgument("a route path must start with /");
  if (path.size() > kMaxRoutePathBytes) {
    return InvalidArgument("a route path is at most " + std::to_string(kMaxRoutePathBytes) + " bytes, not " +
                           std::to_string(path.size()));
  }
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/%";
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%' && (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
                     !std::isxdigit(static_cast<unsigned char>(path[i + 2])))) {
      return InvalidArgument("a route path's % must start a %XX escape");
    }
    if (c < 0x80 && (std::isalnum(c) || kAllowed.find(static_cast<char>(c)) != std::string_view::npos)) continue;
    char shown[8];
    std::snprintf(shown, sizeof shown, "0x%02x", c);
    return InvalidArgument(std::string("a route path may hold only RFC 3986 path characters; byte ") + shown +
                           " at offset " + std::to_string(i) + " is not one");
  }
  return OkStatus();
}

void to_json(nlohmann::json& j, const LayerRef& v) {
  j = {{"name", v.name}, {"version", v.version}};
}

namespace {
template <typename T>
void PutIfSet(nlohmann::json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
template <typename T>
void GetIfPresent(const nlohmann::json& j, const char* key, std::optional<T>& v) {
  if (j.contains(key) && !j[key].is_null()) v = j[key].get<T>();
}
}  // namespace

void to_json(nlohmann::json& j, const PoolOverrides& v) {
  j = nlohmann::json::object();
  PutIfSet(j, "min_warm", v.min_warm);
  PutIfSet(j, "max_containers", v.max_containers);
  PutIfSet(j, "queue_size", v.queue_size);
  PutIfSet(j, "idle_evict_s", v.idle_evict_s);
  PutIfSet(j, "scale_to_zero_s", v.scale_to_zero_s);
  PutIfSet(j, "recycle_after", v.recycle_after);
}

void from_json(const nlohmann::json& j, PoolOverrides& v) {
  GetIfPresent(j, "min_warm", v.min_warm);
  GetIfPresent(j, "max_containers", v.max_containers);
  GetIfPresent(j, "queue_size", v.queue_size);
  GetIfPresent(j, "idle_evict_s", v.idle_evict_s);
  GetIfPresent(j, "scale_to_zero_s", v.scale_to_zero_s);
  GetIfPresent(j, "recycle_after", v.recycle_after);
}

void to_json(nlohmann::json& j, const StartOptions& v) {
  j = {{"zygote", v.zygote}, {"snapshot", v.snapshot},
       {"preload", v.preload ? nlohmann::json(*v.preload) : nlohmann::json(nullptr)}};
}

void from_json(const nlohmann::json& j, StartOptions& v) {
  v.zygote = j.value("zygote", true);
  v.snapshot = j.value("snapshot", false);
  if (j.contains("preload") && j["preload"].is_array()) v.preload = j["preload"].get<std::vector<std::string>>();
}

void to_json(nlohmann::json& j, const AsyncOptions& v) {
  j = {{"timeout_ms", v.timeout_ms},
       {"retries", v.retries},
       {"retry_on_error", v.retry_on_error},
       {"max_event_age_s", v.max_event_age_s},
       {"max_queued", v.max_queued}};
}

void from_json(const nlohmann::json& j, AsyncOptions& v) {
  v.timeout_ms = j.value("timeout_ms", v.timeout_ms);
  v.retries = j.value("retries", v.retries);
  v.retry_on_error = j.value("retry_on_error", v.retry_on_error);
  v.max_event_age_s = j.value("max_event_age_s", v.max_event_age_s);
  v.max_queued = j.value("max_queued", v.max_queued);
}

void to_json(nlohmann::json& j, const PreloadModule& v) { j = {{"module", v.module}, {"import_ms", v.import_ms}}; }

void from_json(const nlohmann::json& j, PreloadModule& v) {
  v.module = j.at("module").get<std::string>();
  v.import_ms = j.value("import_ms", 0.0);
}

void to_json(nlohmann::json& j, const SkippedModule& v) { j = {{"module", v.module}, {"reason", v.reason}}; }

void from_json(const nlohmann::json& j, SkippedModule& v) {
  v.module = j.at("module").get<std::string>();
  v.reason = j.value("reason", "");
}

void to_json(nlohmann::json& j, const FunctionVersion& v) {
  j = {{"function", v.function},     {"version", v.version},       {"blob", v.blob},
       {"handler", v.handler},       {"runtime", v.runtime},       {"layers", v.layers},
       {"memory_mb", v.memory_mb},   {"timeout_ms", v.timeout_ms}, {"env", EnvNames(v.env)},
       {"pool", v.pool},             {"state", VersionStateName(v.state)},
       {"zygote", v.start.zygote},   {"snapshot", v.start.snapshot},
       {"preload", v.start.preload ? nlohmann::json(*v.start.preload) : nlohmann::json(nullptr)},
       {"async", v.async},
       {"created_at", FormatRfc3339(v.created_at)}};
  if (!v.state_message.empty()) j["state_message"] = v.state_message;
  nlohmann::json secrets = nlohmann::json::object();
  for (const auto& [name, value] : v.env) {
    if (value.starts_with(kSecretReferencePrefix)) secrets[name] = value.substr(kSecretReferencePrefix.size());
  }
  j["env_secrets"] = std::move(secrets);
}

bool SameDeployment(const FunctionVersion& a, const FunctionVersion& b) {
  auto layers = [](const FunctionVersion& v) { return nlohmann::json(v.layers); };
  return a.function == b.function && a.blob == b.blob && a.handler == b.handler && a.runtime == b.runtime &&
         layers(a) == layers(b) && a.memory_mb == b.memory_mb && a.timeout_ms == b.timeout_ms && a.env == b.env &&
         nlohmann::json(a.pool) == nlohmann::json(b.pool) && nlohmann::json(a.start) == nlohmann::json(b.start) &&
         nlohmann::json(a.async) == nlohmann::json(b.async);
}

void to_json(nlohmann::json& j, const Route& v) {
  j = {{"id", v.id},
       {"method", v.method},
       {"path", v.path},
       {"function", v.function},
       {"version", v.version ? nlohmann::json(*v.version) : nlohmann::json(nullptr)},
       {"auth", RouteAuthName(v.auth)},
       {"mode", RouteModeName(v.mode)},
       {"errors", RouteErrorsName(v.errors)},
       {"created_at", FormatRfc3339(v.created_at)}};
}

void to_json(nlohmann::json& j, const ApiKeyRecord& v) {
  auto time_or_null = [](const std::optional<int64_t>& t) {
    return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
  };
  j = {{"id", v.id},
       {"name", v.name},
       {"routes", v.routes},
       {"functions", v.functions},
       {"role", v.role == ControlRole::kNone ? nlohmann::json(nullptr) : nlohmann::json(ControlRoleName(v.role))},
       {"admin", v.role == ControlRole::kAdmin},
       {"created_at", FormatRfc3339(v.created_at)},
       {"expires_at", time_or_null(v.expires_at)},
       {"last_used_at", time_or_null(v.last_used_at)},
       {"previous_valid_until",
        v.previous_sha256.empty() ? nlohmann::json(nullptr) : nlohmann::json(FormatRfc3339(v.previous_valid_until))},
       {"legacy", v.legacy},
       {"metrics", v.metrics}};
}

void to_json(nlohmann::json& j, const LayerDistribution& v) {
  j = {{"name", v.name}, {"version", v.version}, {"top_level", v.top_level}};
}

void from_json(const nlohmann::json& j, LayerDistribution& v) {
  v.name = j.at("name").get<std::string>();
  v.version = j.at("version").get<std::string>();
  v.top_level = j.value("top_level", std::vector<std::string>{});
}

void to_json(nlohmann::json& j, const LayerVersion& v) {
  j = {{"name", v.name},
       {"version", v.version},
       {"digest", v.digest},
       {"requirements", v.requirements},
       {"packages", v.packages},
       {"size_bytes", v.size_bytes},
       {"source", v.source},
       {"manifest",
        {{"distributions", v.distributions},
         {"modules", v.modules},
         {"preload", v.preload},
         {"not_preloaded", v.not_preloaded}}},
       {"created_at", FormatRfc3339(v.created_at)}};
}

void to_json(nlohmann::json& j, const RunRecord& v) {
  auto opt_str = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  j = {{"id", v.id},
       {"function", v.function},
       {"version", v.version},
       {"trigger", v.trigger},
       {"route", opt_str(v.route)},
       {"started_at", FormatRfc3339(v.started_at)},
       {"duration_ms", v.duration_ms},
       {"init_ms", v.init_ms ? nlohmann::json(*v.init_ms) : nlohmann::json(nullptr)},
       {"cold", v.cold},
       {"container_id", opt_str(v.container_id)},
       {"status", RunStatusName(v.status)},
       {"http_status", v.http_status},
       {"request_bytes", v.request_bytes},
       {"response_bytes", v.response_bytes},
       {"result", v.result},
       {"truncated", v.truncated},
       {"error_type", opt_str(v.error_type)},
       {"error_message", opt_str(v.error_message)},
       {"logs", v.logs},
       {"max_memory_mb", v.max_memory_mb},
       {"attempt", v.attempt},
       {"queue_ms", v.queue_ms},
       {"fork_ms", v.fork_ms ? nlohmann::json(*v.fork_ms) : nlohmann::json(nullptr)},
       {"sandbox_ms", v.sandbox_ms ? nlohmann::json(*v.sandbox_ms) : nlohmann::json(nullptr)},
       {"start", opt_str(v.start)},
       {"start_note", opt_str(v.start_note)}};
  if (v.status == RunStatus::kThrottled) j["stands_for"] = v.stands_for;
}

void to_json(nlohmann::json& j, const ContainerRecord& v) {
  j = {{"id", v.id},
       {"function", v.function},
       {"version", v.version},
       {"state", v.ended_at ? "gone" : "live"},
       {"started_at", FormatRfc3339(v.started_at)},
       {"ended_at", v.ended_at ? nlohmann::json(FormatRfc3339(*v.ended_at)) : nlohmann::json(nullptr)},
       {"init_ms", v.init_ms ? nlohmann::json(*v.init_ms) : nlohmann::json(nullptr)},
       {"invocations", v.invocations},
       {"reason", v.reason},
       {"start", v.start}};
  if (!v.detail.empty()) j["detail"] = v.detail;
}

}  // namespace kiln
