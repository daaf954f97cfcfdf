#include "sandbox/mounts.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

namespace kiln::sandbox {
namespace {

namespace fs = std::filesystem;

class MountPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln-mounts-test-" + std::to_string(getpid()));
    fs::create_directories(dir_ / "layer");
    fs::create_directories(dir_ / "bundle");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// A zygote's children apply the plan the daemon built: it must survive the trip.
TEST_F(MountPlanTest, JsonRoundTripKeepsEveryStep) {
  auto plan = MountPlan::Build({{"/usr"}, {{(dir_ / "bundle").string(), "/var/task"}}, 64}, (dir_ / "root").string());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  nlohmann::json j = plan->ToJson();
  auto back = MountPlan::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->ToJson(), j);
  EXPECT_NE(j.dump().find("pivot_root"), std::string::npos);
  EXPECT_NE(j.dump().find("size=64m"), std::string::npos);
}

TEST_F(MountPlanTest, FromJsonRefusesWhatIsNotAPlan) {
  EXPECT_FALSE(MountPlan::FromJson(nlohmann::json::object()).ok());
  EXPECT_FALSE(MountPlan::FromJson({{"root", "/x"}, {"steps", {{99, "", "", "", 0, "", ""}}}}).ok());
  EXPECT_FALSE(MountPlan::FromJson({{"root", "/x"}, {"steps", {{0, "a"}}}}).ok());
}

// The zygote sees the layers where its children do (/opt/<name>), over its own
// tmpfs, and keeps the host's root otherwise: no pivot.
TEST_F(MountPlanTest, ZygoteViewBindsOnlyTheLayers) {
  auto plan = MountPlan::ZygoteView(
      {{(dir_ / "bundle").string(), "/var/task"}, {(dir_ / "layer").string(), "/opt/ml"}});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const std::string text = plan->ToJson().dump();
  EXPECT_NE(text.find("mount(tmpfs, /opt)"), std::string::npos);
  EXPECT_NE(text.find("/opt/ml"), std::string::npos);
  EXPECT_EQ(text.find("/var/task"), std::string::npos);
  EXPECT_EQ(text.find("pivot_root"), std::string::npos);
  EXPECT_FALSE(MountPlan::ZygoteView({{(dir_ / "missing").string(), "/opt/x"}}).ok());
}

}  // namespace
}  // namespace kiln::sandbox
