#include "runs/pipeline_spec.h"

#include <nlohmann/json.hpp>

namespace kiln::runs {
namespace {

using nlohmann::json;

Result<PipelineStep> ParseStep(const json& j, size_t index) {
  const std::string where = "step " + std::to_string(index);
  if (!j.is_object()) return InvalidArgument(where + " must be an object with a function");
  for (const auto& [key, value] : j.items()) {
    if (key != "function" && key != "map" && key != "timeout_ms") {
      return InvalidArgument(where + ": unknown key '" + key + "' (a step has function, map, timeout_ms)");
    }
  }
  if (!j.contains("function") || !j["function"].is_string()) return InvalidArgument(where + " needs a function name");
  PipelineStep step;
  const std::string ref = j["function"].get<std::string>();
  const size_t colon = ref.find(':');
  step.function = ref.substr(0, colon);
  if (!ValidName(step.function)) {
    return InvalidArgument(where + ": function '" + step.function + "': use 1-64 of [A-Za-z0-9_-]");
  }
  if (colon != std::string::npos) {
    const std::string v = ref.substr(colon + 1);
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos || std::stoll(v) < 1) {
      return InvalidArgument(where + ": '" + ref + "' is not function or function:version");
    }
    step.version = std::stoll(v);
  }
  if (j.contains("map")) {
    const json& m = j["map"];
    if (m.is_boolean()) {
      step.map = m.get<bool>();
    } else if (m.is_string() && !m.get<std::string>().empty()) {
      step.map = true;
      step.items = m.get<std::string>();
    } else {
      return InvalidArgument(where + ": map must be true, false, or the key of the previous result that holds the list");
    }
  }
  if (j.contains("timeout_ms")) {
    const json& t = j["timeout_ms"];
    if (!t.is_number_integer() || t.get<int64_t>() < 1 || t.get<int64_t>() > kMaxStepTimeoutMs) {
      return InvalidArgument(where + ": timeout_ms must be an integer from 1 to " + std::to_string(kMaxStepTimeoutMs));
    }
    step.timeout_ms = t.get<int64_t>();
  }
  return step;
}

}  // namespace

Result<std::vector<PipelineStep>> ParsePipelineSteps(const json& body) {
  if (!body.is_object()) return InvalidArgument("a pipeline is a JSON object with steps");
  for (const auto& [key, value] : body.items()) {
    if (key != "steps") return InvalidArgument("unknown key '" + key + "' (a pipeline has steps)");
  }
  if (!body.contains("steps") || !body["steps"].is_array() || body["steps"].empty()) {
    return InvalidArgument("a pipeline needs a non-empty list of steps");
  }
  if (body["steps"].size() > kMaxPipelineSteps) {
    return InvalidArgument("a pipeline has at most " + std::to_string(kMaxPipelineSteps) + " steps, not " +
                           std::to_string(body["steps"].size()));
  }
  std::vector<PipelineStep> steps;
  for (const json& j : body["steps"]) {
    KILN_ASSIGN_OR_RETURN(PipelineStep step, ParseStep(j, steps.size()));
    steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace kiln::runs
