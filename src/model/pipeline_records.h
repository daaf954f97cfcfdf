// DESIGN: pipelines as plain values (SPEC §1, §4; issue #6). A pipeline is an ordered
// list of steps, each a function; a pipeline run passes each step's result to the next
// step as its event. A map step runs its function once per element of a list taken
// from the previous result, and its result is the list of their results, in order.
// Every run of a step is a background (async) run with its own record; a pipeline
// run keeps a copy of the steps it started with, so redefining the pipeline never
// changes a run under way.
//
// A pipeline run's life: running -> ok | failed | result_too_large (written once,
// PipelineRunEnded). current_step only moves forward, one step at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/records.h"

namespace kiln {

struct PipelineStep {
  std::string function;
  std::optional<int64_t> version;  // pinned; unset follows the function's serving version
  bool map = false;
  std::string items;  // map steps: the key of the previous result holding the list; empty: the result is the list
  std::optional<int64_t> timeout_ms;  // each run's budget; unset: the function's async timeout
};

struct Pipeline {
  std::string name;
  std::vector<PipelineStep> steps;
  int64_t created_at = 0;  // epoch ms
  int64_t updated_at = 0;
};

enum class PipelineRunStatus { kRunning, kOk, kFailed, kResultTooLarge };
const char* PipelineRunStatusName(PipelineRunStatus s);
std::optional<PipelineRunStatus> ParsePipelineRunStatus(const std::string& s);

struct PipelineRun {
  std::string id;
  std::string pipeline;
  std::vector<PipelineStep> steps;  // as defined when the run started
  PipelineRunStatus status = PipelineRunStatus::kRunning;
  int64_t current_step = 0;  // the step under way, or where the run ended
  int64_t started_at = 0;    // epoch ms
  std::optional<int64_t> ended_at;
  std::optional<int64_t> failed_step;
  std::string error_type;
  std::string error_message;
  std::string result;  // JSON text of the last step's result, when ok
  int64_t input_bytes = 0;
};

// One run of a step: a plain step's run, or one element of a map step, with its
// record as the store has it now (logs left out).
struct PipelineTask {
  int64_t step = 0;
  int64_t element = 0;
  RunRecord run;
  bool pending = true;  // still in the async queue: waiting, running, or to be retried
};

void to_json(nlohmann::json& j, const PipelineStep& v);
void from_json(const nlohmann::json& j, PipelineStep& v);  // no checks: pipeline_spec validates
void to_json(nlohmann::json& j, const Pipeline& v);

}  // namespace kiln
