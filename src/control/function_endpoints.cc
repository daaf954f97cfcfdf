// The control API's function versions and containers: a deploy's request is parsed and
// checked here and carried out by the Deployer (record, pre-warm, publish); `kiln ps`
// reads the pool.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/time_util.h"
#include "control/control_api.h"
#include "pool/pool_settings.h"

namespace kiln::control {
namespace {

using nlohmann::json;

constexpr int64_t kMinMemoryMb = 64, kMaxMemoryMb = 2048;
constexpr int64_t kMinTimeoutMs = 1, kMaxTimeoutMs = 900000;
constexpr size_t kMaxLayers = 5;
constexpr int kMaxEndedContainers = 100;

template <typename T>
json OrNull(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Env keys are what a process environment can hold as NAME=VALUE (POSIX names), and
// values carry no NUL: caught at deploy, not at the container's init.
Status CheckEnv(const std::map<std::string, std::string>& env) {
  for (const auto& [key, value] : env) {
    if (!ValidEnvKey(key)) {
      return InvalidArgument("env key " + json(key).dump(-1, ' ', true, json::error_handler_t::replace) +
                             " must match [A-Za-z_][A-Za-z0-9_]*");
    }
    if (value.find('\0') != std::string::npos) return InvalidArgument("env " + key + " has a NUL in its value");
  }
  return OkStatus();
}

int64_t DirectoryBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

json ContainerJson(const pool::ContainerInfo& c) {
  return {{"id", c.id},
          {"function", c.function},
          {"version", c.version},
          {"state", pool::ContainerStateName(c.state)},
          {"pid", c.pid},
          {"invocations", c.invocations},
          {"started_at", FormatRfc3339(c.started_at_ms)},
          {"age_s", c.age_s},
          {"idle_s", OrNull(c.idle_s)},
          {"rss_mb", OrNull(c.rss_mb)},
          {"private_mb", OrNull(c.private_mb)},
          {"shared_mb", OrNull(c.shared_mb)},
          {"memory_mb", c.memory_mb},
          {"init_ms", OrNull(c.init_ms)},
          {"start", c.start}};
}

json ForkSourceJson(const pool::ForkSourceInfo& z) {
  json out = {{"id", z.id},
              {"kind", z.kind},
              {"layers", z.layers},
              {"pid", z.pid > 0 ? json(z.pid) : json(nullptr)},
              {"state", z.state},
              {"preloaded", z.preloaded},
              {"rss_mb", OrNull(z.rss_mb)},
              {"forks", z.forks},
              {"started_at", FormatRfc3339(z.started_at_ms)},
              {"message", z.message.empty() ? json(nullptr) : json(z.message)},
              {"spare", z.spare_pid > 0 ? json{{"id", z.spare_id}, {"pid", z.spare_pid}} : json(nullptr)}};
  if (z.kind == "snapshot") {
    out["function"] = z.function;
    out["version"] = z.version;
  }
  return out;
}

// The "async" object, strictly, with its ranges (SPEC §2: at most 900 s a run).
Result<AsyncOptions> ParseAsync(const json& j) {
  if (!j.is_object()) return InvalidArgument("async must be an object");
  struct Range {
    int64_t AsyncOptions::*field;
    int64_t min, max;
  };
  static const std::map<std::string, Range> kIntegers = {
      {"timeout_ms", {&AsyncOptions::timeout_ms, 1, 900000}},
      {"retries", {&AsyncOptions::retries, 0, 10}},
      {"max_event_age_s", {&AsyncOptions::max_event_age_s, 1, 21600}},
      {"max_queued", {&AsyncOptions::max_queued, 1, 100000}}};
  AsyncOptions out;
  for (const auto& [key, value] : j.items()) {
    if (key == "retry_on_error") {
      if (!value.is_boolean()) return InvalidArgument("async.retry_on_error must be true or false");
      out.retry_on_error = value.get<bool>();
      continue;
    }
    auto it = kIntegers.find(key);
    if (it == kIntegers.end()) return InvalidArgument("async: unknown setting '" + key + "'");
    if (!value.is_number_integer()) return InvalidArgument("async." + key + " must be an integer");
    const int64_t v = value.get<int64_t>();
    if (v < it->second.min || v > it->second.max) {
      return InvalidArgument("async." + key + " must be within " + std::to_string(it->second.min) + "-" +
                             std::to_string(it->second.max) + ", got " + std::to_string(v));
    }
    out.*(it->second.field) = v;
  }
  return out;
}

// zygote, snapshot, preload: how the version's containers start (StartOptions).
Result<StartOptions> ParseStart(const json& j) {
  StartOptions start;
  for (const char* key : {"zygote", "snapshot"}) {
    if (j.contains(key) && !j[key].is_null() && !j[key].is_boolean()) {
      return InvalidArgument(std::string(key) + " must be true or false");
    }
  }
  if (j.contains("zygote") && j["zygote"].is_boolean()) start.zygote = j["zygote"].get<bool>();
  if (j.contains("snapshot") && j["snapshot"].is_boolean()) start.snapshot = j["snapshot"].get<bool>();
  if (j.contains("preload") && !j["preload"].is_null()) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> modules, StringList(j, "preload"));
    for (const std::string& m : modules) {
      bool dotted_name = !m.empty() && m.front() != '.' && m.back() != '.' &&
                         std::all_of(m.begin(), m.end(), [](char c) { return std::isalnum(c) || c == '_' || c == '.'; });
      if (!dotted_name) return InvalidArgument("preload: '" + m + "' is not a module name");
    }
    start.preload = std::move(modules);
  }
  return start;
}

// The "pool" object, strictly: a misspelt or mistyped setting is an error, not a default.
Result<PoolOverrides> ParsePool(const json& pool) {
  if (!pool.is_object()) return InvalidArgument("pool must be an object");
  static const std::set<std::string> kIntegers = {"min_warm", "max_containers", "queue_size", "recycle_after"};
  static const std::set<std::string> kSeconds = {"idle_evict_s", "scale_to_zero_s"};
  for (const auto& [key, value] : pool.items()) {
    if (kIntegers.count(key) > 0) {
      if (!value.is_number_integer()) return InvalidArgument("pool." + key + " must be an integer");
    } else if (kSeconds.count(key) > 0) {
      if (!value.is_number()) return InvalidArgument("pool." + key + " must be a number of seconds");
    } else {
      return InvalidArgument("pool: unknown setting '" + key +
                             "' (known: min_warm, max_containers, queue_size, idle_evict_s, "
                             "scale_to_zero_s, recycle_after)");
    }
  }
  return pool.get<PoolOverrides>();
}

// memory_mb and timeout_ms (SPEC §2): whole numbers within their ranges, the field
// named in the error. A fraction is refused, not rounded (256.7 MB is no size).
Status CheckBudgets(const json& j) {
  struct Budget {
    const char* field;
    int64_t lo, hi;
  };
  for (const Budget& b : {Budget{"memory_mb", kMinMemoryMb, kMaxMemoryMb}, Budget{"timeout_ms", kMinTimeoutMs, kMaxTimeoutMs}}) {
    if (!j.contains(b.field)) continue;
    const json& v = j[b.field];
    const std::string range = std::to_string(b.lo) + "-" + std::to_string(b.hi);
    if (!v.is_number_integer()) {
      return InvalidArgument(std::string(b.field) + " must be an integer within " + range + ", got " + v.dump());
    }
    // Parsed non-negative integers are unsigned: compared as such, so 2^64-1 is no -1.
    const bool in_range =
        v.is_number_unsigned()
            ? v.get<uint64_t>() >= static_cast<uint64_t>(b.lo) && v.get<uint64_t>() <= static_cast<uint64_t>(b.hi)
            : v.get<int64_t>() >= b.lo && v.get<int64_t>() <= b.hi;
    if (!in_range) return InvalidArgument(std::string(b.field) + " must be within " + range + ", got " + v.dump());
  }
  return OkStatus();
}

}  // namespace

Result<FunctionVersion> ControlApi::ParseVersion(const std::string& name, const json& j) {
  if (!ValidName(name)) return InvalidArgument("function name '" + name + "': use 1-64 of [A-Za-z0-9_-]");
  KILN_RETURN_IF_ERROR(CheckBudgets(j));
  FunctionVersion v;
  v.function = name;
  try {
    v.blob = j.at("blob").get<std::string>();
    v.handler = j.value("handler", v.handler);
    v.memory_mb = j.value("memory_mb", v.memory_mb);
    v.timeout_ms = j.value("timeout_ms", v.timeout_ms);
    // Without "env" a version keeps the previous one's; {} clears it.
    if (j.contains("env")) {
      v.env = j["env"].get<std::map<std::string, std::string>>();
    } else if (auto previous = d_.catalog->Versions(name); !previous.empty()) {
      v.env = previous.back()->env;
    }
    if (j.contains("pool") && !j["pool"].is_null()) {
      KILN_ASSIGN_OR_RETURN(v.pool, ParsePool(j["pool"]));
    }
    KILN_ASSIGN_OR_RETURN(v.start, ParseStart(j));
    if (j.contains("async") && !j["async"].is_null()) {
      KILN_ASSIGN_OR_RETURN(v.async, ParseAsync(j["async"]));
    }
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("version fields: ") + e.what());
  }
  if (!d_.blobs->Has(v.blob)) return InvalidArgument("unknown blob '" + v.blob + "': upload it to /v1/blobs first");
  if (v.handler.find('.') == std::string::npos) {
    return InvalidArgument("handler '" + v.handler + "' must be module.function");
  }
  KILN_RETURN_IF_ERROR(pool::Validate(d_.pool->config().defaults, v.pool));
  KILN_RETURN_IF_ERROR(CheckEnv(v.env));
  KILN_RETURN_IF_ERROR(d_.secrets->CheckReferences(v.env));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> layer_specs, StringList(j, "layers"));
  int64_t layer_bytes = 0;
  if (layer_specs.size() > kMaxLayers) return InvalidArgument("at most 5 layers per function");
  for (const auto& spec : layer_specs) {
    size_t colon = spec.find(':');
    std::string lname = spec.substr(0, colon);
    KILN_ASSIGN_OR_RETURN(auto versions, d_.store->ListLayerVersions(lname));
    if (!ValidName(lname) || versions.empty()) return InvalidArgument("unknown layer '" + lname + "'");
    int64_t want = colon == std::string::npos ? versions.back().version : std::atoll(spec.c_str() + colon + 1);
    auto it = std::find_if(versions.begin(), versions.end(), [&](const LayerVersion& l) { return l.version == want; });
    if (it == versions.end()) return InvalidArgument("unknown layer version '" + spec + "'");
    v.layers.push_back({lname, want});  // pinned now: the version never changes under it
    layer_bytes += it->size_bytes;
  }
  const int64_t total = DirectoryBytes(d_.blobs->PathOf(v.blob)) + layer_bytes;
  if (total > d_.limits.max_function_bytes) {
    return InvalidArgument("bundle and layers unpack to " + std::to_string(total >> 20) + " MiB, over the cap of " +
                           std::to_string(d_.limits.max_function_bytes >> 20) + " MiB (kiln serve --max-function-mb)");
  }
  return v;
}

asio::awaitable<Response> ControlApi::CreateVersion(const std::string& name, const std::string& body) {
  auto fail = [](const Status& st) { return gateway::ErrorResponse(st, 11, true); };
  auto j = ParseObject(body);
  if (!j.ok()) co_return fail(j.status());
  for (const char* flag : {"wait", "force"}) {
    if (j->contains(flag) && !(*j)[flag].is_boolean()) {
      co_return fail(InvalidArgument(std::string(flag) + " must be true or false"));
    }
  }
  auto parsed = ParseVersion(name, *j);
  if (!parsed.ok()) co_return fail(parsed.status());
  DeployRequest req{std::move(parsed).value(), j->value("wait", true), j->value("force", false)};
  auto done = co_await d_.deployer->Deploy(std::move(req));
  if (!done.ok()) co_return fail(done.status());
  if (auto* failed = std::get_if<DeployFailed>(&*done)) co_return InitFailedResponse(*failed);
  const Deployed& deployed = std::get<Deployed>(*done);
  json out = deployed.version;
  out["unchanged"] = deployed.unchanged;
  out["prewarm"] = deployed.prewarm ? PrewarmJson(*deployed.prewarm, deployed.version) : json(nullptr);
  out["warnings"] = deployed.prewarm ? json(deployed.prewarm->warnings) : json::array();
  co_return Json(deployed.unchanged ? 200 : 201, out);
}

Result<json> ControlApi::ListContainers(const Request& req) {
  json list = json::array();
  for (const pool::ContainerInfo& c : d_.pool->Containers()) list.push_back(ContainerJson(c));
  if (QueryParam(std::string_view(req.target().data(), req.target().size()), "all") == "true") {
    KILN_ASSIGN_OR_RETURN(auto ended, d_.store->ListEndedContainers(kMaxEndedContainers));
    for (const ContainerRecord& c : ended) list.push_back(c);
  }
  return json{{"containers", list}};
}

json ControlApi::ListForkSources() {
  json list = json::array();
  for (const pool::ForkSourceInfo& z : d_.pool->ForkSources()) list.push_back(ForkSourceJson(z));
  return json{{"zygotes", list}};
}

}  // namespace kiln::control
