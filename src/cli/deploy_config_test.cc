#include "cli/deploy_config.h"

#include <gtest/gtest.h>

namespace kiln::cli {
namespace {

TEST(DeployConfig, ParsesTheExampleShape) {
  auto c = ParseDeployYaml(R"(
name: iris
handler: handler.handler
layers: [ml]
memory: 256
timeout: 5s
env: {ORT_THREADS: "1"}
routes:
  - {method: POST, path: /predict}
)");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(*c->name, "iris");
  EXPECT_EQ(*c->timeout_ms, 5000);
  EXPECT_EQ(*c->memory_mb, 256);
  EXPECT_EQ(c->layers, std::vector<std::string>{"ml"});
  EXPECT_EQ(c->env.at("ORT_THREADS"), "1");
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].path, "/predict");
  EXPECT_EQ(c->routes[0].auth, "key");
}

TEST(DeployConfig, RejectsUnknownKeysAndBadValues) {
  EXPECT_FALSE(ParseDeployYaml("nmae: iris").ok());
  EXPECT_FALSE(ParseDeployYaml("timeout: soon").ok());
  EXPECT_FALSE(ParseDeployYaml("routes: [{method: GET}]").ok());
  EXPECT_FALSE(ParseDeployYaml("runtime: python2.7").ok());
  EXPECT_FALSE(ParseDeployYaml("[1, 2]").ok());
  EXPECT_TRUE(ParseDeployYaml("").ok());
}

TEST(DeployConfig, EnvAssignments) {
  EXPECT_EQ(ParseEnvAssignment("A=b=c")->second, "b=c");
  EXPECT_FALSE(ParseEnvAssignment("novalue").ok());
  EXPECT_FALSE(ParseEnvAssignment("=x").ok());
}

}  // namespace
}  // namespace kiln::cli
