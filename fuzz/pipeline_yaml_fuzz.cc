// DESIGN: pipeline.yaml as `kiln pipeline create` reads it (cli/pipeline_file.h), then
// the steps as the daemon checks them (runs/pipeline_spec.h). Checked: each answers a
// value or an error and never throws; accepted steps are within the documented caps.
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/pipeline_file.h"
#include "runs/pipeline_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto body = kiln::cli::ParsePipelineFile(std::string(reinterpret_cast<const char*>(data), size));
  if (!body.ok()) return 0;
  // What the CLI sends is JSON text the daemon parses again.
  auto sent = nlohmann::json::parse(body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  auto steps = kiln::runs::ParsePipelineSteps(sent);
  if (!steps.ok()) return 0;
  if (steps->empty() || steps->size() > kiln::runs::kMaxPipelineSteps) std::abort();
  for (const auto& step : *steps) {
    if (!kiln::ValidName(step.function)) std::abort();
    if (step.timeout_ms && (*step.timeout_ms < 1 || *step.timeout_ms > kiln::runs::kMaxStepTimeoutMs)) {
      std::abort();
    }
  }
  return 0;
}
