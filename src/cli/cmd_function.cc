// kiln ls, kiln describe NAME, kiln rm NAME[:VERSION], kiln rollback NAME [VERSION]
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct FunctionFlags {
  std::string name;
  std::optional<int64_t> version;
  bool json = false, force = false;
};

std::string Ago(const json& seconds) { return seconds.is_null() ? "-" : SecondsCell(seconds) + " ago"; }

// "3.21 ms", or "-" without samples.
std::string MsCell(const json& ms) { return ms.is_null() ? "-" : Cell(ms) + " ms"; }

std::string Joined(const json& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + Cell(item);
  return out.empty() ? "-" : out;
}

Status List(const Globals& g, const FunctionFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(json j, client.Call("GET", "/v1/functions"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& fn : j["functions"]) {
    const json& hour = fn["last_hour"];
    rows.push_back({Cell(fn["name"]), Cell(fn["serving_version"]), Cell(fn["state"]), Joined(fn["routes"]),
                    Ago(fn["last_run_age_s"]), Cell(hour["invocations"]), Cell(hour["errors"]),
                    MsCell(hour["warm_p50_ms"]), Cell(hour["cold_starts"])});
  }
  PrintTable({"NAME", "SERVING", "STATE", "ROUTES", "LAST RUN", "RUNS 1H", "ERRORS 1H", "WARM P50 1H", "COLD 1H"},
             rows);
  return OkStatus();
}

void PrintVersions(const json& versions) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : versions) {
    std::string layers;
    for (const auto& l : v["layers"]) layers += (layers.empty() ? "" : ",") + Cell(l["name"]) + ":" + Cell(l["version"]);
    rows.push_back({Cell(v["version"]) + (v.value("serving", false) ? " *" : ""), Cell(v["state"]),
                    Cell(v["runtime"]), Cell(v["handler"]), Cell(v["memory_mb"]) + " MB", Cell(v["timeout_ms"]) + " ms",
                    layers.empty() ? "-" : layers, Joined(v["env"]), Cell(v["created_at"]),
                    Cell(v, "state_message")});
  }
  PrintTable({"VERSION", "STATE", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "LAYERS", "ENV", "CREATED", "ERROR"}, rows);
}

Status Describe(const Globals& g, const FunctionFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(json fn, client.Call("GET", "/v1/functions/" + f.name));
  if (f.json) {
    PrintJson(fn);
    return OkStatus();
  }
  std::printf("%s  serving %s  state %s\n\n", f.name.c_str(), Cell(fn["serving_version"]).c_str(),
              Cell(fn["state"]).c_str());
  PrintVersions(fn["versions"]);
  for (const auto& v : fn["versions"]) {
    if (!v.value("serving", false)) continue;
    std::printf("\npool of %s:%s: %s\n", f.name.c_str(), Cell(v["version"]).c_str(), v["pool"].dump().c_str());
  }
  std::printf("\nroutes:\n");
  std::vector<std::vector<std::string>> routes;
  for (const auto& r : fn["routes"]) {
    routes.push_back({Cell(r["id"]), Cell(r["method"]), Cell(r["path"]),
                      r["version"].is_null() ? "follows" : "pinned", Cell(r["serves"]), Cell(r["auth"])});
  }
  PrintTable({"ID", "METHOD", "PATH", "TARGET", "SERVES", "AUTH"}, routes);
  const json& hour = fn["last_hour"];
  std::printf("\nlast hour: %s runs, %s errors, %s throttled; warm p50 %s p99 %s; %s cold starts, p50 %s, init p50 %s\n",
              Cell(hour["invocations"]).c_str(), Cell(hour["errors"]).c_str(), Cell(hour["throttles"]).c_str(),
              MsCell(hour["warm"]["p50_ms"]).c_str(), MsCell(hour["warm"]["p99_ms"]).c_str(),
              Cell(hour["cold"]["count"]).c_str(), MsCell(hour["cold"]["p50_ms"]).c_str(),
              MsCell(hour["init_p50_ms"]).c_str());
  std::printf("containers: %zu live\n", fn["containers"].size());
  return OkStatus();
}

Status Remove(const Globals& g, const FunctionFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  if (f.version) {
    if (f.force) return InvalidArgument("--force removes a whole function, not one version");
    KILN_ASSIGN_OR_RETURN(json ignored, client.Call("DELETE", "/v1/functions/" + f.name + "/versions/" +
                                                                  std::to_string(*f.version)));
    std::printf("removed %s:%lld\n", f.name.c_str(), static_cast<long long>(*f.version));
    return OkStatus();
  }
  KILN_ASSIGN_OR_RETURN(json removed,
                        client.Call("DELETE", "/v1/functions/" + f.name + (f.force ? "?force=true" : "")));
  if (f.json) {
    PrintJson(removed);
    return OkStatus();
  }
  for (const auto& r : removed["routes_removed"]) {
    std::printf("removed route %s %s (id %s)\n", Cell(r["method"]).c_str(), Cell(r["path"]).c_str(),
                Cell(r["id"]).c_str());
  }
  std::printf("removed %s (%zu versions); its containers drain, its run records stay until retention\n",
              f.name.c_str(), removed["versions"].size());
  return OkStatus();
}

Status Rollback(const Globals& g, const FunctionFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  json body = json::object();
  if (f.version) body["version"] = *f.version;
  KILN_ASSIGN_OR_RETURN(json r, client.Call("POST", "/v1/functions/" + f.name + "/rollback", body));
  for (const auto& w : r.value("warnings", json::array())) std::fprintf(stderr, "warning: %s\n", Cell(w).c_str());
  if (f.json) {
    PrintJson(r);
    return OkStatus();
  }
  std::string warm = r["prewarm"].is_null() ? "min_warm is 0" : Cell(r["prewarm"]["containers"]) + " warm";
  std::printf("%s now serves version %s (was %s; %s)\n", f.name.c_str(), Cell(r["to"]).c_str(),
              Cell(r["from"]).c_str(), warm.c_str());
  return OkStatus();
}

// NAME:VERSION leaves NAME in `text` (the option's value) and VERSION in the flags.
std::string SplitTarget(std::string& text, FunctionFlags& f) {
  size_t colon = text.find(':');
  if (colon == std::string::npos) return "";
  const std::string v = text.substr(colon + 1);
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos || std::stoll(v) < 1) {
    return "'" + text + "' is not NAME or NAME:VERSION";
  }
  f.version = std::stoll(v);
  text.resize(colon);
  return "";
}

}  // namespace

void AddFunctions(CLI::App& app, Globals& g) {
  auto f = std::make_shared<FunctionFlags>();
  auto* ls = app.add_subcommand("ls", "List functions: serving version, routes, the last hour's runs");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });

  auto* describe = app.add_subcommand("describe", "A function's versions, routes, settings and last hour");
  describe->add_option("name", f->name)->required();
  describe->add_flag("--json", f->json);
  describe->callback([&g, f] { g.status = Describe(g, *f); });

  auto* rm = app.add_subcommand("rm", "Remove a function (NAME) or one version nothing serves (NAME:VERSION)");
  rm->add_option("name", f->name, "NAME or NAME:VERSION")
      ->required()
      ->transform(CLI::Validator([f](std::string& text) { return SplitTarget(text, *f); }, "NAME[:VERSION]"));
  rm->add_flag("--force", f->force, "Remove the function's routes with it");
  rm->add_flag("--json", f->json);
  rm->callback([&g, f] { g.status = Remove(g, *f); });

  auto* rollback = app.add_subcommand("rollback", "Serve an earlier ready version (pre-warmed first)");
  rollback->add_option("name", f->name)->required();
  rollback->add_option("version", f->version, "Default: the newest ready version before the serving one")
      ->check(CLI::PositiveNumber);
  rollback->add_flag("--json", f->json);
  rollback->callback([&g, f] { g.status = Rollback(g, *f); });
}

}  // namespace kiln::cli
