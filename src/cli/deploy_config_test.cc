#include "cli/deploy_config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
  EXPECT_EQ(c->env->at("ORT_THREADS"), "1");
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].path, "/predict");
  EXPECT_EQ(c->routes[0].auth, "key");
}

TEST(DeployConfig, RoutesMaySayErrorsAndBadPathsAreRefused) {
  auto c = ParseDeployYaml("routes:\n  - {path: /p, auth: none, errors: detailed}\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->routes[0].errors, "detailed");
  auto bad = ParseDeployYaml("routes:\n  - {path: \"/a b\"}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("RFC 3986"), std::string::npos) << bad.status().message();
}

TEST(DeployConfig, RejectsUnknownKeysAndBadValues) {
  EXPECT_FALSE(ParseDeployYaml("nmae: iris").ok());
  EXPECT_FALSE(ParseDeployYaml("timeout: soon").ok());
  EXPECT_FALSE(ParseDeployYaml("routes: [{method: GET}]").ok());
  EXPECT_FALSE(ParseDeployYaml("runtime: python2.7").ok());
  EXPECT_FALSE(ParseDeployYaml("[1, 2]").ok());
  EXPECT_TRUE(ParseDeployYaml("").ok());
}

TEST(DeployConfig, ParsesPoolSettings) {
  auto c = ParseDeployYaml(R"(
min_warm: 2
max_containers: 4
queue_size: 0
idle_evict_s: 1.5
scale_to_zero_s: 30
recycle_after: 5
)");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(*c->pool.min_warm, 2);
  EXPECT_EQ(*c->pool.max_containers, 4);
  EXPECT_EQ(*c->pool.queue_size, 0);
  EXPECT_EQ(*c->pool.idle_evict_s, 1.5);
  EXPECT_EQ(*c->pool.scale_to_zero_s, 30.0);
  EXPECT_EQ(*c->pool.recycle_after, 5);
}

TEST(DeployConfig, UnsetPoolSettingsAreNotSent) {
  auto c = ParseDeployYaml("name: iris\nmin_warm: 0\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(nlohmann::json(c->pool), nlohmann::json({{"min_warm", 0}}));
  EXPECT_EQ(nlohmann::json(PoolOverrides{}), nlohmann::json::object());
}

TEST(DeployConfig, BadPoolValueNamesTheKey) {
  auto c = ParseDeployYaml("min_warm: two");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "kiln.yaml: min_warm must be an integer, got 'two'");
  EXPECT_EQ(ParseDeployYaml("recycle_after: 1.5").status().message(),
            "kiln.yaml: recycle_after must be an integer, got '1.5'");
  EXPECT_EQ(ParseDeployYaml("idle_evict_s: [1]").status().message(),
            "kiln.yaml: idle_evict_s must be a number of seconds, got a list");
  EXPECT_EQ(ParseDeployYaml("scale_to_zero_s:").status().message(),
            "kiln.yaml: scale_to_zero_s must be a number of seconds, got nothing");
}

TEST(DeployConfig, FlagsOverrideTheFile) {
  PoolOverrides file, flags;
  file.min_warm = 1;
  file.idle_evict_s = 300;
  flags.min_warm = 3;
  flags.recycle_after = 10;
  OverlayPool(flags, &file);
  EXPECT_EQ(nlohmann::json(file),
            nlohmann::json::parse(R"({"min_warm":3,"idle_evict_s":300.0,"recycle_after":10})"));
}

TEST(DeployConfig, StartKeys) {
  auto c = ParseDeployYaml("snapshot: true\nzygote: false\npreload: [numpy, onnxruntime]\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->snapshot, true);
  EXPECT_EQ(c->zygote, false);
  EXPECT_EQ(c->preload, (std::vector<std::string>{"numpy", "onnxruntime"}));
  auto unset = ParseDeployYaml("name: x\n");
  EXPECT_FALSE(unset->snapshot.has_value());
  EXPECT_FALSE(unset->preload.has_value());
  EXPECT_EQ(ParseDeployYaml("snapshot: sometimes").status().message(),
            "kiln.yaml: snapshot must be true or false, got 'sometimes'");
  EXPECT_EQ(ParseDeployYaml("preload: numpy").status().message(),
            "kiln.yaml: preload must be a list of module names, got 'numpy'");
}

TEST(DeployConfig, EnvAssignments) {
  EXPECT_EQ(ParseEnvAssignment("A=b=c")->second, "b=c");
  EXPECT_FALSE(ParseEnvAssignment("novalue").ok());
  EXPECT_FALSE(ParseEnvAssignment("=x").ok());
}

}  // namespace
}  // namespace kiln::cli
