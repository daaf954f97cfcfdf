// DESIGN: what a pipeline definition may say (issue #6), checked once, where it enters
// through the control API: {"steps": [{"function": "split"}, {"function": "score",
// "map": true}, ...]}. A step names a function (`name` or `name:3`), and may be a map
// step (`map: true`, or `map: "key"` to take the list from that key of the previous
// result) and set its runs' budget (`timeout_ms`, at most 900 s). Unknown keys are
// refused, so a misspelt setting is never ignored. Whether the functions exist is the
// caller's question (it has the catalog).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "common/status.h"
#include "model/pipeline_records.h"

namespace kiln::runs {

constexpr size_t kMaxPipelineSteps = 32;
constexpr int64_t kMaxStepTimeoutMs = 900000;  // SPEC §2: a pipeline step's budget

Result<std::vector<PipelineStep>> ParsePipelineSteps(const nlohmann::json& body);

}  // namespace kiln::runs
