#include "cli/pipeline_file.h"

#include <yaml-cpp/yaml.h>

#include "common/time_util.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

// A YAML scalar as the JSON value it reads as: true/false, an integer, or a string.
json Scalar(const YAML::Node& node) {
  bool b;
  if (node.Tag() != "!" && YAML::convert<bool>::decode(node, b)) return b;
  int64_t i;
  if (node.Tag() != "!" && YAML::convert<int64_t>::decode(node, i)) return i;
  return node.as<std::string>();
}

Result<json> ParseRoot(const YAML::Node& root) {
  if (!root.IsMap()) return InvalidArgument("pipeline file: the top level must be a mapping with steps");
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key != "steps" && key != "name") return InvalidArgument("pipeline file: unknown key '" + key + "'");
  }
  if (!root["steps"] || !root["steps"].IsSequence()) {
    return InvalidArgument("pipeline file: steps must be a list of steps");
  }
  json steps = json::array();
  for (const YAML::Node& node : root["steps"]) {
    const std::string where = "pipeline file: step " + std::to_string(steps.size());
    if (!node.IsMap()) return InvalidArgument(where + " must be a mapping with a function");
    json step = json::object();
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (!kv.second.IsScalar()) return InvalidArgument(where + ": " + key + " must be a single value");
      if (key == "timeout") {
        const int64_t ms = ParseDurationMs(kv.second.as<std::string>());
        if (ms < 0) return InvalidArgument(where + ": timeout '" + kv.second.as<std::string>() + "' is not a duration");
        step["timeout_ms"] = ms;
      } else if (key == "function") {
        step[key] = kv.second.as<std::string>();
      } else {
        step[key] = Scalar(kv.second);
      }
    }
    steps.push_back(std::move(step));
  }
  return json{{"steps", steps}};
}

}  // namespace

Result<json> ParsePipelineFile(const std::string& yaml_text) {
  // Inside the try: reading a key that is not a scalar (`? [a]: b`) throws too.
  try {
    return ParseRoot(YAML::Load(yaml_text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("pipeline file: ") + e.what());
  }
}

}  // namespace kiln::cli
