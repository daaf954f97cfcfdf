// kiln deploy DIR|bundle.zip|bundle.tar.gz
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/bundle_packer.h"
#include "cli/commands.h"
#include "cli/deploy_config.h"
#include "cli/output.h"
#include "common/time_util.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct DeployFlags {
  std::string target;
  std::string name, handler, timeout;
  std::optional<int64_t> memory;
  std::vector<std::string> env, layers;
  PoolOverrides pool;
  bool no_wait = false, force = false, env_clear = false;
  bool json = false;
  bool no_zygote = false, snapshot = false;
  std::vector<std::string> preload;
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The archive to upload and the kiln.yaml beside it, if any.
Result<std::pair<std::string, DeployConfig>> Load(const DeployFlags& f, std::string* default_name) {
  std::error_code ec;
  if (fs::is_directory(f.target, ec)) {
    DeployConfig cfg;
    fs::path yaml = fs::path(f.target) / "kiln.yaml";
    if (fs::exists(yaml, ec)) {
      std::ifstream in(yaml);
      std::stringstream ss;
      ss << in.rdbuf();
      KILN_ASSIGN_OR_RETURN(cfg, ParseDeployYaml(ss.str()));
    }
    KILN_ASSIGN_OR_RETURN(PackedBundle packed, PackDirectory(f.target));
    std::fprintf(stderr, "packed %lld files from %s (%.1f KiB)\n", static_cast<long long>(packed.files),
                 f.target.c_str(), packed.bytes.size() / 1024.0);
    *default_name = fs::absolute(f.target).lexically_normal().filename().string();
    if (default_name->empty()) *default_name = fs::absolute(f.target).parent_path().filename().string();
    return std::make_pair(std::move(packed.bytes), cfg);
  }
  if (!EndsWith(f.target, ".zip") && !EndsWith(f.target, ".tar.gz") && !EndsWith(f.target, ".tgz")) {
    return InvalidArgument(f.target + " is neither a folder nor a .zip/.tar.gz bundle");
  }
  std::ifstream in(f.target, std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + f.target);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string stem = fs::path(f.target).filename().string();
  *default_name = stem.substr(0, stem.find('.'));
  return std::make_pair(ss.str(), DeployConfig{});
}

// kiln.yaml's routes: made when missing; one that exists with another target is
// repointed at this function (it then follows its serving version), unless it is
// pinned to a version, which is left alone. `notes` says what happened to each.
Status EnsureRoutes(Client& client, const std::string& function, const std::vector<RouteSpec>& specs,
                    json* out, std::vector<std::string>* notes) {
  if (specs.empty()) return OkStatus();
  KILN_ASSIGN_OR_RETURN(json existing, client.Call("GET", "/v1/routes"));
  for (const auto& spec : specs) {
    std::string method = spec.method;
    std::transform(method.begin(), method.end(), method.begin(), ::toupper);
    const std::string label = "route " + method + " " + spec.path;
    auto same = [&](const json& r) { return r["method"] == method && r["path"] == spec.path; };
    auto it = std::find_if(existing["routes"].begin(), existing["routes"].end(), same);
    if (it == existing["routes"].end()) {
      json body = {{"method", method}, {"path", spec.path}, {"function", function}, {"auth", spec.auth}};
      if (!spec.errors.empty()) body["errors"] = spec.errors;
      KILN_ASSIGN_OR_RETURN(json created, client.Call("POST", "/v1/routes", body));
      out->push_back(created);
      continue;
    }
    const json& r = *it;
    const std::string target = r["function"].get<std::string>() + (r["version"].is_null() ? "" : ":" + Cell(r["version"]));
    if (!r["version"].is_null()) {
      notes->push_back(label + " is pinned to " + target + " and stays so (kiln route set to change it)");
      out->push_back(r);
    } else if (r["function"] != function) {
      KILN_ASSIGN_OR_RETURN(json moved, client.Call("PUT", "/v1/routes/" + Cell(r["id"]), {{"function", function}}));
      notes->push_back(label + " served " + target + "; it now serves " + function);
      out->push_back(moved);
    } else {
      out->push_back(r);
    }
  }
  return OkStatus();
}

// The deploy's pre-warm as measured by the daemon, or why there was none.
std::string PrewarmLine(const std::string& name, const json& version, bool waited) {
  std::string label = name + ":" + std::to_string(version["version"].get<int64_t>());
  const json prewarm = version.value("prewarm", json());
  if (!prewarm.is_null()) {
    int64_t n = prewarm["containers"].get<int64_t>();
    const std::string start = prewarm.value("start", "");
    // Private memory (what the limit applies to), and the pages shared with the zygote
    // or template it was forked from; the RSS where the host gives no cgroup.
    const json priv = prewarm.value("private_mb", json()), shared = prewarm.value("shared_mb", json());
    char measured[160];
    if (priv.is_number()) {
      std::snprintf(measured, sizeof measured, "init %.0f ms, memory %.0f of %lld MB (+%.0f MB shared%s)",
                    prewarm["init_ms"].get<double>(), priv.get<double>(),
                    static_cast<long long>(prewarm["memory_mb"].get<int64_t>()),
                    shared.is_number() ? shared.get<double>() : 0.0,
                    start == "zygote" ? " with its zygote" : start == "snapshot" ? " with its template" : "");
    } else {
      std::snprintf(measured, sizeof measured, "init %.0f ms, memory %.0f of %lld MB resident",
                    prewarm["init_ms"].get<double>(), prewarm["rss_mb"].get<double>(),
                    static_cast<long long>(prewarm["memory_mb"].get<int64_t>()));
    }
    std::string count = n == 1 ? "" : " (" + std::to_string(n) + " containers)";
    return label + " warm" + count + (start.empty() ? "" : ", " + start + " start") + ": " + measured;
  }
  if (!waited) return label + " not pre-warmed (--no-wait)";
  // The daemon's warnings (on stderr) say why it could not pre-warm.
  if (!version.value("warnings", json::array()).empty()) return label + " not pre-warmed";
  return label + " min_warm is 0: starts on the first request";
}

void PrintWarnings(const json& version) {
  for (const auto& w : version.value("warnings", json::array())) {
    std::fprintf(stderr, "warning: %s\n", w.get<std::string>().c_str());
  }
}

// The budgets given as flags, checked before anything is packed or uploaded.
Result<DeployConfig> BudgetFlags(const DeployFlags& f) {
  DeployConfig budgets;
  budgets.memory_mb = f.memory;
  if (!f.timeout.empty()) {
    int64_t ms = ParseDurationMs(f.timeout);
    if (ms < 0) return InvalidArgument("--timeout '" + f.timeout + "' is not a duration (5s, 250ms, 2m)");
    budgets.timeout_ms = ms;
  }
  KILN_RETURN_IF_ERROR(CheckBudgets(budgets));
  return budgets;
}

Status Deploy(const Globals& g, const DeployFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(DeployConfig budgets, BudgetFlags(f));
  std::string default_name;
  KILN_ASSIGN_OR_RETURN(auto loaded, Load(f, &default_name));
  auto& [archive, cfg] = loaded;

  std::string name = !f.name.empty() ? f.name : cfg.name.value_or(default_name);
  json body = json::object();
  if (!f.handler.empty()) cfg.handler = f.handler;
  if (budgets.memory_mb) cfg.memory_mb = budgets.memory_mb;
  if (budgets.timeout_ms) cfg.timeout_ms = budgets.timeout_ms;
  if (f.env_clear && !f.env.empty()) return InvalidArgument("--env-clear and --env exclude each other");
  if (f.env_clear) cfg.env.emplace();
  for (const auto& kv : f.env) {
    KILN_ASSIGN_OR_RETURN(auto pair, ParseEnvAssignment(kv));
    if (!cfg.env) cfg.env.emplace();
    (*cfg.env)[pair.first] = pair.second;
  }
  if (!f.layers.empty()) cfg.layers = f.layers;
  OverlayPool(f.pool, &cfg.pool);
  if (f.no_zygote) cfg.zygote = false;
  if (f.snapshot) cfg.snapshot = true;
  if (!f.preload.empty()) cfg.preload = f.preload;
  KILN_RETURN_IF_ERROR(CheckBudgets(cfg));  // kiln.yaml's, before the upload

  std::fprintf(stderr, "uploading %.1f KiB...\n", archive.size() / 1024.0);
  bool zip = archive.size() >= 2 && archive[0] == 'P' && archive[1] == 'K';
  KILN_ASSIGN_OR_RETURN(Reply up, client.Send("POST", "/v1/blobs", archive,
                                              zip ? "application/zip" : "application/gzip"));
  if (up.status != 201) return InvalidArgument(ErrorText(up));
  json blob = json::parse(up.body);

  body["blob"] = blob["digest"];
  if (cfg.handler) body["handler"] = *cfg.handler;
  if (cfg.memory_mb) body["memory_mb"] = *cfg.memory_mb;
  if (cfg.timeout_ms) body["timeout_ms"] = *cfg.timeout_ms;
  if (cfg.env) body["env"] = *cfg.env;  // else the previous version's env is kept
  body["layers"] = cfg.layers;
  if (json pool = cfg.pool; !pool.empty()) body["pool"] = pool;
  if (cfg.zygote) body["zygote"] = *cfg.zygote;
  if (cfg.snapshot) body["snapshot"] = *cfg.snapshot;
  if (cfg.preload) body["preload"] = *cfg.preload;
  json async = json::object();
  if (cfg.async_timeout_ms) async["timeout_ms"] = *cfg.async_timeout_ms;
  if (cfg.retries) async["retries"] = *cfg.retries;
  if (cfg.retry_on_error) async["retry_on_error"] = *cfg.retry_on_error;
  if (cfg.max_event_age_s) async["max_event_age_s"] = *cfg.max_event_age_s;
  if (cfg.max_queued) async["max_queued"] = *cfg.max_queued;
  if (!async.empty()) body["async"] = async;
  if (f.no_wait) body["wait"] = false;
  if (f.force) body["force"] = true;
  KILN_ASSIGN_OR_RETURN(json version, client.Call("POST", "/v1/functions/" + name + "/versions", body));
  PrintWarnings(version);
  json routes = json::array();
  std::vector<std::string> notes;
  KILN_RETURN_IF_ERROR(EnsureRoutes(client, name, cfg.routes, &routes, &notes));
  for (const std::string& note : notes) std::fprintf(stderr, "%s\n", note.c_str());

  if (f.json) {
    version["routes"] = routes;
    PrintJson(version);
    return OkStatus();
  }
  if (version.value("unchanged", false)) {
    std::printf("unchanged: %s:%lld (the same bundle, handler, layers and settings; --force makes a new version)\n",
                name.c_str(), static_cast<long long>(version["version"].get<int64_t>()));
    return OkStatus();
  }
  std::string layers;
  for (const auto& l : version["layers"]) {
    layers += (layers.empty() ? "" : ", ") + l["name"].get<std::string>() + ":" + std::to_string(l["version"].get<int64_t>());
  }
  std::printf("deployed %s:%lld  handler %s  memory %lld MB  timeout %lld ms  layers %s\n", name.c_str(),
              static_cast<long long>(version["version"].get<int64_t>()),
              version["handler"].get<std::string>().c_str(),
              static_cast<long long>(version["memory_mb"].get<int64_t>()),
              static_cast<long long>(version["timeout_ms"].get<int64_t>()), layers.empty() ? "-" : layers.c_str());
  std::printf("%s\n", PrewarmLine(name, version, !f.no_wait).c_str());
  std::printf("bundle %s (%lld files)\n", blob["digest"].get<std::string>().c_str(),
              static_cast<long long>(blob["files"].get<int64_t>()));
  for (const auto& r : routes) {
    std::printf("route %s %s (auth %s)\n", r["method"].get<std::string>().c_str(),
                r["path"].get<std::string>().c_str(), r["auth"].get<std::string>().c_str());
  }
  return OkStatus();
}

// Flags over kiln.yaml over the node's settings (`kiln serve`), key by key.
void AddPoolOptions(CLI::App* cmd, DeployFlags* f) {
  auto* pool = cmd->add_option_group("Warm pool", "Unset: kiln.yaml, else the node's setting");
  pool->add_option("--min-warm", f->pool.min_warm,
                   "Containers kept warm, pre-warmed on deploy (0-64)");
  pool->add_option("--max-containers", f->pool.max_containers,
                   "Containers under concurrency (1-64)");
  pool->add_option("--queue-size", f->pool.queue_size,
                   "Requests waiting when all are busy (0-100000)");
  pool->add_option("--idle-evict-s", f->pool.idle_evict_s,
                   "Seconds idle before those above min go");
  pool->add_option("--scale-to-zero-s", f->pool.scale_to_zero_s,
                   "Seconds fully idle before all go");
  pool->add_option("--recycle-after", f->pool.recycle_after, "Invocations before a replacement");
  pool->add_flag("--no-wait", f->no_wait, "Return before the min_warm containers are warm");
  auto* start = cmd->add_option_group("Cold starts", "Unset: kiln.yaml, else a fork of the layers' zygote");
  start->add_flag("--no-zygote", f->no_zygote, "Start every container as a fresh interpreter");
  start->add_flag("--snapshot", f->snapshot,
                  "Fork containers from the first one whose init is done (skips the handler's import)");
  start->add_option("--preload", f->preload, "Modules the zygote imports, instead of the layers' lists")
      ->delimiter(',');
}

}  // namespace

void AddDeploy(CLI::App& app, Globals& g) {
  auto f = std::make_shared<DeployFlags>();
  auto* cmd = app.add_subcommand("deploy", "Deploy a bundle folder or archive as a new function version");
  cmd->add_option("target", f->target, "A folder (with optional kiln.yaml), or a .zip/.tar.gz bundle")->required();
  cmd->add_option("--name", f->name, "Function name (default: kiln.yaml name, else the folder/archive name)");
  cmd->add_option("--handler", f->handler, "module.function (default handler.handler)");
  cmd->add_option("--memory", f->memory, "Memory in MB (64-2048, default 256)");
  cmd->add_option("--timeout", f->timeout, "Timeout: 5s, 250ms, 2m (default 5s)");
  cmd->add_option("--env", f->env,
                  "KEY=VALUE (repeatable); the whole env of the new version (default: the previous version's)");
  cmd->add_flag("--env-clear", f->env_clear, "Deploy with no env (default: keep the previous version's)");
  cmd->add_flag("--force", f->force, "Make a new version even when nothing changed");
  cmd->add_option("--layer", f->layers, "Layer NAME or NAME:VERSION, in order (repeatable)");
  AddPoolOptions(cmd, f.get());
  cmd->add_flag("--json", f->json, "Print the new version as JSON");
  cmd->callback([&g, f] { g.status = Deploy(g, *f); });
}

}  // namespace kiln::cli
