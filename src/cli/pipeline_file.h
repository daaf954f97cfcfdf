// pipeline.yaml, as `kiln pipeline create NAME -f pipeline.yaml` reads it:
//
//   steps:
//     - function: split
//     - function: score      # or score:3, a pinned version
//       map: true            # or the key of the previous result that holds the list
//       timeout: 15m         # each run's budget (at most 900 s); default: the function's async_timeout
//     - function: summarise
//
// It becomes the control API's body, {"steps": [...]}; the daemon checks the steps
// (unknown keys are passed on for it to refuse by name).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace kiln::cli {

Result<nlohmann::json> ParsePipelineFile(const std::string& yaml_text);

}  // namespace kiln::cli
