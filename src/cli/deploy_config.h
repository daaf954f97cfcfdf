// What `kiln deploy` sends: kiln.yaml (when the folder has one) overlaid by flags.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/records.h"

namespace kiln::cli {

struct RouteSpec {
  std::string method = "POST";
  std::string path;
  std::string auth = "key";
  std::string errors;  // generic | detailed; empty: the daemon's default for the auth
};

struct DeployConfig {
  std::optional<std::string> name;
  std::optional<std::string> handler;
  std::optional<int64_t> memory_mb;
  std::optional<int64_t> timeout_ms;
  // Unset: the function's previous version's env is kept (the daemon's rule).
  std::optional<std::map<std::string, std::string>> env;
  std::vector<std::string> layers;
  std::vector<RouteSpec> routes;
  PoolOverrides pool;  // sent as "pool", only the keys set
  // How containers start (StartOptions); unset: the daemon's default.
  std::optional<bool> zygote;
  std::optional<bool> snapshot;
  std::optional<std::vector<std::string>> preload;
  // Async runs (AsyncOptions): only the keys set, sent as "async".
  std::optional<int64_t> async_timeout_ms, retries, max_event_age_s, max_queued;
  std::optional<bool> retry_on_error;
};

// Parses kiln.yaml text. `timeout` is "5s", "250ms", "2m" or a number of seconds; the
// pool settings are top-level keys named as in the API (min_warm, idle_evict_s, ...).
Result<DeployConfig> ParseDeployYaml(const std::string& text);

// memory (64-2048 MB) and timeout (1 ms - 900 s), as the daemon checks them (SPEC §2):
// "--memory must be within 64-2048 MB, got 0".
Status CheckBudgets(const DeployConfig& c);

// Takes every pool setting that `top` has (flags over kiln.yaml).
void OverlayPool(const PoolOverrides& top, PoolOverrides* base);

// "K=V" -> (K, V), or an error.
Result<std::pair<std::string, std::string>> ParseEnvAssignment(const std::string& kv);

}  // namespace kiln::cli
