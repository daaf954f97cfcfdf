#include "model/pipeline_records.h"

#include <nlohmann/json.hpp>

#include "common/time_util.h"

namespace kiln {

namespace {
constexpr const char* kPipelineRunStatusNames[] = {"running", "ok", "failed", "result_too_large"};
}  // namespace

const char* PipelineRunStatusName(PipelineRunStatus s) { return kPipelineRunStatusNames[static_cast<int>(s)]; }

std::optional<PipelineRunStatus> ParsePipelineRunStatus(const std::string& s) {
  for (int i = 0; i < static_cast<int>(std::size(kPipelineRunStatusNames)); ++i) {
    if (s == kPipelineRunStatusNames[i]) return static_cast<PipelineRunStatus>(i);
  }
  return std::nullopt;
}

void to_json(nlohmann::json& j, const PipelineStep& v) {
  j = {{"function", v.function}, {"map", v.map}};
  j["version"] = v.version ? nlohmann::json(*v.version) : nlohmann::json(nullptr);
  if (!v.items.empty()) j["items"] = v.items;
  j["timeout_ms"] = v.timeout_ms ? nlohmann::json(*v.timeout_ms) : nlohmann::json(nullptr);
}

void from_json(const nlohmann::json& j, PipelineStep& v) {
  v.function = j.at("function").get<std::string>();
  if (j.contains("version") && !j["version"].is_null()) v.version = j["version"].get<int64_t>();
  v.map = j.value("map", false);
  v.items = j.value("items", "");
  if (j.contains("timeout_ms") && !j["timeout_ms"].is_null()) v.timeout_ms = j["timeout_ms"].get<int64_t>();
}

void to_json(nlohmann::json& j, const Pipeline& v) {
  j = {{"name", v.name},
       {"steps", v.steps},
       {"created_at", FormatRfc3339(v.created_at)},
       {"updated_at", FormatRfc3339(v.updated_at)}};
}

}  // namespace kiln
