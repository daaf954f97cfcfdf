#include "control/access_table.h"

#include <array>

namespace kiln::control {
namespace {

using boost::beast::http::verb;
constexpr auto kNone = ControlRole::kNone;
constexpr auto kReader = ControlRole::kReader;
constexpr auto kDeployer = ControlRole::kDeployer;
constexpr auto kAdmin = ControlRole::kAdmin;

struct Rule {
  verb method;
  std::string_view pattern;
  ControlRole least;
};

// Readers see state (functions, routes, layers, pipelines, runs, containers); deployers
// change functions, routes, layers and pipelines and invoke; keys, the audit log and
// secrets are admin's alone (secrets need no row: the default is admin).
constexpr std::array kRules{
    Rule{verb::get, "/v1/openapi.json", kNone},
    Rule{verb::get, "/metrics", kReader},  // or a key made with --metrics (ControlApi::Check)
    Rule{verb::post, "/v1/blobs", kDeployer},
    Rule{verb::get, "/v1/functions", kReader},
    Rule{verb::get, "/v1/functions/*", kReader},
    Rule{verb::get, "/v1/functions/*/versions", kReader},
    Rule{verb::post, "/v1/functions/*/versions", kDeployer},
    Rule{verb::post, "/v1/functions/*/invocations", kDeployer},
    Rule{verb::delete_, "/v1/functions/*", kDeployer},
    Rule{verb::delete_, "/v1/functions/*/versions/*", kDeployer},
    Rule{verb::post, "/v1/functions/*/rollback", kDeployer},
    Rule{verb::get, "/v1/functions/*/stats", kReader},
    Rule{verb::get, "/v1/routes", kReader},
    Rule{verb::post, "/v1/routes", kDeployer},
    Rule{verb::delete_, "/v1/routes/*", kDeployer},
    Rule{verb::put, "/v1/routes/*", kDeployer},
    Rule{verb::get, "/v1/keys", kAdmin},
    Rule{verb::post, "/v1/keys", kAdmin},
    Rule{verb::delete_, "/v1/keys/*", kAdmin},
    Rule{verb::post, "/v1/keys/*/rotate", kAdmin},
    Rule{verb::get, "/v1/audit", kAdmin},
    Rule{verb::get, "/v1/runs", kReader},
    Rule{verb::get, "/v1/runs/*", kReader},
    Rule{verb::get, "/v1/logs", kReader},
    Rule{verb::get, "/v1/containers", kReader},
    Rule{verb::delete_, "/v1/containers/*", kDeployer},
    Rule{verb::get, "/v1/zygotes", kReader},
    Rule{verb::get, "/v1/doctor", kReader},
    Rule{verb::get, "/v1/layers", kReader},
    Rule{verb::get, "/v1/layers/*", kReader},
    Rule{verb::delete_, "/v1/layers/*", kDeployer},
    Rule{verb::post, "/v1/layers/*/builds", kDeployer},
    Rule{verb::post, "/v1/layers/*/archives", kDeployer},
    Rule{verb::delete_, "/v1/layers/*/versions/*", kDeployer},
    Rule{verb::get, "/v1/layer-builds/*", kReader},
    Rule{verb::get, "/v1/pipelines", kReader},
    Rule{verb::get, "/v1/pipelines/*", kReader},
    Rule{verb::put, "/v1/pipelines/*", kDeployer},
    Rule{verb::delete_, "/v1/pipelines/*", kDeployer},
    Rule{verb::get, "/v1/pipelines/*/runs", kReader},
    Rule{verb::post, "/v1/pipelines/*/runs", kDeployer},
    Rule{verb::get, "/v1/pipeline-runs/*", kReader},
};

// `*` matches any one segment.
bool Matches(std::string_view pattern, const std::vector<std::string>& segments) {
  size_t i = 0;
  while (!pattern.empty()) {
    pattern.remove_prefix(1);  // the '/'
    size_t end = std::min(pattern.find('/'), pattern.size());
    std::string_view want = pattern.substr(0, end);
    if (i == segments.size() || (want != "*" && want != segments[i])) return false;
    ++i;
    pattern.remove_prefix(end);
  }
  return i == segments.size();
}

}  // namespace

std::vector<std::string> PathSegments(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

ControlRole LeastRole(verb method, const std::vector<std::string>& segments) {
  for (const Rule& r : kRules) {
    if (r.method == method && Matches(r.pattern, segments)) return r.least;
  }
  return kAdmin;
}

}  // namespace kiln::control
