#include "cli/deploy_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "common/time_util.h"

namespace kiln::cli {

namespace {

const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {
      "name",       "handler",      "memory",          "timeout",      "env",
      "layers",     "routes",       "runtime",         "min_warm",     "max_containers",
      "queue_size", "idle_evict_s", "scale_to_zero_s", "recycle_after", "zygote",
      "snapshot",   "preload",      "async_timeout",   "retries",      "retry_on_error",
      "max_event_age_s", "max_queued"};
  return keys;
}

// A YAML value as an error message quotes it.
std::string Describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

// `key: value` as a T (`kind` says which, for the error); an absent key leaves *out unset.
template <typename T>
Status ReadNumber(const YAML::Node& root, const std::string& key, const char* kind,
                  std::optional<T>* out) {
  const YAML::Node node = root[key];
  if (!node) return OkStatus();
  T value;
  if (!YAML::convert<T>::decode(node, value)) {
    return InvalidArgument("kiln.yaml: " + key + " must be " + kind + ", got " + Describe(node));
  }
  *out = value;
  return OkStatus();
}

// Types only: the ranges are the daemon's, checked there.
Status ParsePool(const YAML::Node& root, PoolOverrides* pool) {
  KILN_RETURN_IF_ERROR(ReadNumber(root, "min_warm", "an integer", &pool->min_warm));
  KILN_RETURN_IF_ERROR(ReadNumber(root, "max_containers", "an integer", &pool->max_containers));
  KILN_RETURN_IF_ERROR(ReadNumber(root, "queue_size", "an integer", &pool->queue_size));
  KILN_RETURN_IF_ERROR(
      ReadNumber(root, "idle_evict_s", "a number of seconds", &pool->idle_evict_s));
  KILN_RETURN_IF_ERROR(
      ReadNumber(root, "scale_to_zero_s", "a number of seconds", &pool->scale_to_zero_s));
  return ReadNumber(root, "recycle_after", "an integer", &pool->recycle_after);
}

}  // namespace

void OverlayPool(const PoolOverrides& top, PoolOverrides* base) {
  if (top.min_warm) base->min_warm = top.min_warm;
  if (top.max_containers) base->max_containers = top.max_containers;
  if (top.queue_size) base->queue_size = top.queue_size;
  if (top.idle_evict_s) base->idle_evict_s = top.idle_evict_s;
  if (top.scale_to_zero_s) base->scale_to_zero_s = top.scale_to_zero_s;
  if (top.recycle_after) base->recycle_after = top.recycle_after;
}

Result<DeployConfig> ParseDeployYaml(const std::string& text) {
  DeployConfig c;
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) return c;
    if (!root.IsMap()) return InvalidArgument("kiln.yaml: the top level must be a mapping");
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (!KnownKeys().count(key)) return InvalidArgument("kiln.yaml: unknown key '" + key + "'");
    }
    if (root["runtime"] && root["runtime"].as<std::string>() != "python3.11") {
      return InvalidArgument("kiln.yaml: runtime '" + root["runtime"].as<std::string>() +
                             "' is not available; this node runs python3.11");
    }
    if (root["name"]) c.name = root["name"].as<std::string>();
    if (root["handler"]) c.handler = root["handler"].as<std::string>();
    if (root["memory"]) c.memory_mb = root["memory"].as<int64_t>();
    if (root["timeout"]) {
      int64_t ms = ParseDurationMs(root["timeout"].as<std::string>());
      if (ms < 0) return InvalidArgument("kiln.yaml: timeout '" + root["timeout"].as<std::string>() + "' is not a duration");
      c.timeout_ms = ms;
    }
    if (root["env"]) c.env = root["env"].as<std::map<std::string, std::string>>();
    if (root["layers"]) c.layers = root["layers"].as<std::vector<std::string>>();
    for (const auto& r : root["routes"]) {
      RouteSpec spec;
      if (!r["path"]) return InvalidArgument("kiln.yaml: every route needs a path");
      spec.path = r["path"].as<std::string>();
      if (Status st = CheckRoutePath(spec.path); !st.ok()) return InvalidArgument("kiln.yaml: " + st.message());
      if (r["method"]) spec.method = r["method"].as<std::string>();
      if (r["auth"]) spec.auth = r["auth"].as<std::string>();
      if (r["errors"]) spec.errors = r["errors"].as<std::string>();
      c.routes.push_back(spec);
    }
    KILN_RETURN_IF_ERROR(ParsePool(root, &c.pool));
    KILN_RETURN_IF_ERROR(ReadNumber(root, "zygote", "true or false", &c.zygote));
    if (root["async_timeout"]) {
      int64_t ms = ParseDurationMs(root["async_timeout"].as<std::string>());
      if (ms < 0) {
        return InvalidArgument("kiln.yaml: async_timeout '" + root["async_timeout"].as<std::string>() +
                               "' is not a duration");
      }
      c.async_timeout_ms = ms;
    }
    KILN_RETURN_IF_ERROR(ReadNumber(root, "retries", "an integer", &c.retries));
    KILN_RETURN_IF_ERROR(ReadNumber(root, "retry_on_error", "true or false", &c.retry_on_error));
    KILN_RETURN_IF_ERROR(ReadNumber(root, "max_event_age_s", "an integer", &c.max_event_age_s));
    KILN_RETURN_IF_ERROR(ReadNumber(root, "max_queued", "an integer", &c.max_queued));
    KILN_RETURN_IF_ERROR(ReadNumber(root, "snapshot", "true or false", &c.snapshot));
    if (root["preload"]) {
      if (!root["preload"].IsSequence()) {
        return InvalidArgument("kiln.yaml: preload must be a list of module names, got " + Describe(root["preload"]));
      }
      c.preload = root["preload"].as<std::vector<std::string>>();
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("kiln.yaml: ") + e.what());
  }
  return c;
}

Status CheckBudgets(const DeployConfig& c) {
  if (c.memory_mb && (*c.memory_mb < 64 || *c.memory_mb > 2048)) {
    return InvalidArgument("memory must be within 64-2048 MB, got " + std::to_string(*c.memory_mb));
  }
  if (c.timeout_ms && (*c.timeout_ms < 1 || *c.timeout_ms > 900'000)) {
    return InvalidArgument("timeout must be within 1ms-900s, got " + std::to_string(*c.timeout_ms) + " ms");
  }
  return OkStatus();
}

Result<std::pair<std::string, std::string>> ParseEnvAssignment(const std::string& kv) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return InvalidArgument("--env wants KEY=VALUE, got '" + kv + "'");
  return std::make_pair(kv.substr(0, eq), kv.substr(eq + 1));
}

}  // namespace kiln::cli
