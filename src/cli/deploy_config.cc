#include "cli/deploy_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "common/time_util.h"

namespace kiln::cli {

namespace {

const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {"name", "handler", "memory", "timeout",
                                             "env",  "layers",  "routes", "runtime"};
  return keys;
}

}  // namespace

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
      if (r["method"]) spec.method = r["method"].as<std::string>();
      if (r["auth"]) spec.auth = r["auth"].as<std::string>();
      c.routes.push_back(spec);
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("kiln.yaml: ") + e.what());
  }
  return c;
}

Result<std::pair<std::string, std::string>> ParseEnvAssignment(const std::string& kv) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return InvalidArgument("--env wants KEY=VALUE, got '" + kv + "'");
  return std::make_pair(kv.substr(0, eq), kv.substr(eq + 1));
}

}  // namespace kiln::cli
