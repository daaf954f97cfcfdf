#include "control/access_table.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "control/openapi.h"  // generated: kOpenApiDocument

namespace kiln::control {
namespace {

using boost::beast::http::verb;

// Every operation of the OpenAPI document says its least role (x-kiln-role), and the
// table agrees: a new endpoint documented without a role, or given one the table
// does not know, fails here.
TEST(AccessTable, AgreesWithTheOpenApiDocument) {
  auto doc = nlohmann::json::parse(kOpenApiDocument);
  int checked = 0;
  for (const auto& [path, ops] : doc["paths"].items()) {
    if (path.rfind("/v1/", 0) != 0 && path != "/metrics") continue;
    const std::string concrete = std::regex_replace(path, std::regex(R"(\{[^}]+\})"), "x");
    for (const auto& [method, op] : ops.items()) {
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const verb v = boost::beast::http::string_to_verb(upper);
      if (v == verb::unknown) continue;  // "parameters" and the like
      ASSERT_TRUE(op.contains("x-kiln-role")) << method << " " << path << " has no x-kiln-role";
      const std::string role = op["x-kiln-role"].get<std::string>();
      ControlRole want = role == "none" ? ControlRole::kNone : ParseControlRole(role).value_or(ControlRole::kAdmin);
      EXPECT_EQ(LeastRole(v, PathSegments(concrete)), want) << method << " " << path << " says " << role;
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

TEST(AccessTable, AnythingUnlistedNeedsAdmin) {
  EXPECT_EQ(LeastRole(verb::get, PathSegments("/v1/secrets")), ControlRole::kAdmin);
  EXPECT_EQ(LeastRole(verb::put, PathSegments("/v1/functions/x")), ControlRole::kAdmin);
  EXPECT_EQ(LeastRole(verb::get, PathSegments("/v1/runs/x/y")), ControlRole::kAdmin);
  EXPECT_EQ(LeastRole(verb::get, PathSegments("/v1")), ControlRole::kAdmin);
}

TEST(AccessTable, PathsAreSplitTheWayTheApiRoutesThem) {
  EXPECT_EQ(PathSegments("/v1/keys/abc?x=1"), (std::vector<std::string>{"v1", "keys", "abc"}));
  EXPECT_EQ(PathSegments("/v1//routes/"), (std::vector<std::string>{"v1", "routes"}));
  EXPECT_EQ(LeastRole(verb::get, PathSegments("/v1/runs?function=f")), ControlRole::kReader);
  EXPECT_EQ(LeastRole(verb::post, PathSegments("/v1/routes")), ControlRole::kDeployer);
  EXPECT_EQ(LeastRole(verb::post, PathSegments("/v1/keys")), ControlRole::kAdmin);
  EXPECT_EQ(LeastRole(verb::get, PathSegments("/v1/openapi.json")), ControlRole::kNone);
}

}  // namespace
}  // namespace kiln::control
