#include "runs/pipeline_spec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kiln::runs {
namespace {

using nlohmann::json;

std::string ErrorOf(const json& body) {
  auto r = ParsePipelineSteps(body);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST(PipelineSpec, ParsesPlainMapPinnedAndBudgetedSteps) {
  auto steps = ParsePipelineSteps(json::parse(R"({"steps": [
      {"function": "split"},
      {"function": "score:3", "map": true, "timeout_ms": 900000},
      {"function": "fanout", "map": "chunks"},
      {"function": "summary", "map": false}]})"));
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  ASSERT_EQ(steps->size(), 4u);
  EXPECT_EQ((*steps)[0].function, "split");
  EXPECT_FALSE((*steps)[0].map);
  EXPECT_FALSE((*steps)[0].version);
  EXPECT_EQ((*steps)[1].function, "score");
  EXPECT_EQ((*steps)[1].version, 3);
  EXPECT_TRUE((*steps)[1].map);
  EXPECT_EQ((*steps)[1].timeout_ms, 900000);
  EXPECT_TRUE((*steps)[2].map);
  EXPECT_EQ((*steps)[2].items, "chunks");
  EXPECT_FALSE((*steps)[3].map);
}

TEST(PipelineSpec, RefusesMissingOrEmptySteps) {
  EXPECT_NE(ErrorOf(json::array()).find("JSON object"), std::string::npos);
  EXPECT_NE(ErrorOf(json::object()).find("non-empty list of steps"), std::string::npos);
  EXPECT_NE(ErrorOf({{"steps", json::array()}}).find("non-empty"), std::string::npos);
  EXPECT_NE(ErrorOf({{"steps", "split"}}).find("non-empty"), std::string::npos);
  EXPECT_NE(ErrorOf({{"steps", {{{"function", "a"}}}}, {"name", "x"}}).find("unknown key 'name'"),
            std::string::npos);
}

TEST(PipelineSpec, RefusesTooManySteps) {
  json steps = json::array();
  for (size_t i = 0; i <= kMaxPipelineSteps; ++i) steps.push_back({{"function", "f"}});
  EXPECT_NE(ErrorOf({{"steps", steps}}).find("at most 32 steps"), std::string::npos);
}

TEST(PipelineSpec, NamesTheStepAndTheProblem) {
  EXPECT_EQ(ErrorOf({{"steps", {"split"}}}), "step 0 must be an object with a function");
  EXPECT_EQ(ErrorOf({{"steps", {{{"map", true}}}}}), "step 0 needs a function name");
  EXPECT_EQ(ErrorOf({{"steps", {{{"function", "a"}}, {{"function", "b"}, {"mapp", true}}}}}),
            "step 1: unknown key 'mapp' (a step has function, map, timeout_ms)");
  EXPECT_NE(ErrorOf({{"steps", {{{"function", "no spaces"}}}}}).find("use 1-64 of"), std::string::npos);
  for (const char* ref : {"f:", "f:0", "f:x", "f:-1", "f:1:2"}) {
    EXPECT_NE(ErrorOf({{"steps", {{{"function", ref}}}}}).find("is not function or function:version"),
              std::string::npos)
        << ref;
  }
  EXPECT_NE(ErrorOf({{"steps", {{{"function", "f"}, {"map", 1}}}}}).find("map must be"), std::string::npos);
  EXPECT_NE(ErrorOf({{"steps", {{{"function", "f"}, {"map", ""}}}}}).find("map must be"), std::string::npos);
  for (const json& t : {json(0), json(900001), json(1.5), json("5s")}) {
    EXPECT_NE(ErrorOf({{"steps", {{{"function", "f"}, {"timeout_ms", t}}}}}).find("timeout_ms must be"),
              std::string::npos)
        << t;
  }
}

}  // namespace
}  // namespace kiln::runs
