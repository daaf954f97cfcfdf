#include "cli/pipeline_file.h"

#include <gtest/gtest.h>

namespace kiln::cli {
namespace {

TEST(PipelineFile, BecomesTheApiBody) {
  auto body = ParsePipelineFile(R"(
name: bulk
steps:
  - function: split
  - function: score:2
    map: true
    timeout: 15m
  - function: fan
    map: chunks
  - function: summary
    timeout_ms: 1000
)");
  ASSERT_TRUE(body.ok()) << body.status().message();
  EXPECT_EQ(body->dump(), R"({"steps":[{"function":"split"},{"function":"score:2","map":true,"timeout_ms":900000},)"
                          R"({"function":"fan","map":"chunks"},{"function":"summary","timeout_ms":1000}]})");
}

TEST(PipelineFile, PassesUnknownStepKeysOnForTheDaemonToRefuse) {
  auto body = ParsePipelineFile("steps:\n  - function: a\n    mapp: yes\n");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["steps"][0]["mapp"], true);
}

// Found by fuzz/pipeline_yaml_fuzz: a key that is a mapping or a list threw
// YAML::TypedBadConversion out of the parser (kiln pipeline create aborted).
TEST(PipelineFile, RefusesKeysThatAreNotNames) {
  for (const char* text : {"? {a: b}\n: c\nsteps: []\n", "steps:\n  - ? [function]\n    : a\n"}) {
    auto r = ParsePipelineFile(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("pipeline file"), std::string::npos) << r.status().message();
  }
}

TEST(PipelineFile, RefusesWhatIsNotAPipeline) {
  auto message = [](const std::string& text) {
    auto r = ParsePipelineFile(text);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(message("[a, b]").find("top level must be a mapping"), std::string::npos);
  EXPECT_NE(message("name: x\n").find("steps must be a list"), std::string::npos);
  EXPECT_NE(message("steps: split\n").find("steps must be a list"), std::string::npos);
  EXPECT_NE(message("steps: [a]\n").find("step 0 must be a mapping"), std::string::npos);
  EXPECT_NE(message("stages: []\n").find("unknown key 'stages'"), std::string::npos);
  EXPECT_NE(message("steps:\n  - function: a\n    timeout: soon\n").find("timeout 'soon' is not a duration"),
            std::string::npos);
  EXPECT_NE(message("steps:\n  - function: [a, b]\n").find("function must be a single value"), std::string::npos);
  EXPECT_NE(message("steps: [\n").find("pipeline file:"), std::string::npos);
}

}  // namespace
}  // namespace kiln::cli
