// kiln layer build|ls|show
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct LayerFlags {
  std::string name, requirements;
  bool json = false;
};

// Starts a build, streams its log while it runs (the progress), ends with the
// manifest summary.
Status Build(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  std::ifstream in(f.requirements);
  if (!in) return InvalidArgument("cannot read " + f.requirements);
  std::stringstream ss;
  ss << in.rdbuf();
  KILN_ASSIGN_OR_RETURN(auto started, client.Call("POST", "/v1/layers/" + f.name + "/builds",
                                                  {{"requirements", ss.str()}}));
  std::string id = started["build_id"];
  size_t shown = 0;
  const auto t0 = std::chrono::steady_clock::now();
  nlohmann::json b;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(b, client.Call("GET", "/v1/layer-builds/" + id));
    std::string log = b["log"];
    if (log.size() > shown) {
      std::fwrite(log.data() + shown, 1, log.size() - shown, stderr);
      shown = log.size();
    }
    if (b["status"] != "building") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (b["status"] != "ok") return Internal("layer build failed: " + Cell(b["error"]));
  KILN_ASSIGN_OR_RETURN(auto layer, client.Call("GET", "/v1/layers/" + f.name));
  nlohmann::json built;
  for (const auto& v : layer["versions"]) {
    if (v["version"] == b["version"]) built = v;
  }
  if (f.json) {
    PrintJson(built);
    return OkStatus();
  }
  std::printf("layer %s:%lld  %zu packages  %.1f MiB  %s  (%.1f s)\n", f.name.c_str(),
              static_cast<long long>(b["version"].get<int64_t>()), built["packages"].size(),
              built["size_bytes"].get<double>() / (1 << 20), Cell(built["digest"]).substr(0, 19).c_str(), secs);
  for (const auto& p : built["packages"]) std::printf("  %s\n", p.get<std::string>().c_str());
  return OkStatus();
}

Status List(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", "/v1/layers"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : j["layers"]) {
    char size[32];
    std::snprintf(size, sizeof size, "%.1f", l["size_bytes"].get<double>() / (1 << 20));
    rows.push_back({Cell(l["name"]) + ":" + Cell(l["version"]), std::to_string(l["packages"].size()), size,
                    Cell(l["digest"]).substr(0, 19), Cell(l["created_at"])});
  }
  PrintTable({"LAYER", "PACKAGES", "MIB", "DIGEST", "CREATED"}, rows);
  return OkStatus();
}

Status Show(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  std::string name = f.name.substr(0, f.name.find(':'));
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", "/v1/layers/" + name));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  for (const auto& v : j["versions"]) {
    if (f.name.find(':') != std::string::npos && Cell(v["version"]) != f.name.substr(f.name.find(':') + 1)) continue;
    std::printf("%s:%s  %s  %s\n", name.c_str(), Cell(v["version"]).c_str(), Cell(v["digest"]).c_str(),
                Cell(v["created_at"]).c_str());
    for (const auto& p : v["packages"]) std::printf("  %s\n", p.get<std::string>().c_str());
  }
  return OkStatus();
}

}  // namespace

void AddLayer(CLI::App& app, Globals& g) {
  auto f = std::make_shared<LayerFlags>();
  auto* layer = app.add_subcommand("layer", "Build and inspect dependency layers")->require_subcommand(1);
  auto* build = layer->add_subcommand("build", "Build a layer from requirements.txt (server-side pip)");
  build->add_option("name", f->name)->required();
  build->add_option("-r,--requirements", f->requirements, "requirements.txt")->required();
  build->add_flag("--json", f->json);
  build->callback([&g, f] { g.status = Build(g, *f); });
  auto* ls = layer->add_subcommand("ls", "List layer versions");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });
  auto* show = layer->add_subcommand("show", "Show a layer's manifest");
  show->add_option("name", f->name, "NAME or NAME:VERSION")->required();
  show->add_flag("--json", f->json);
  show->callback([&g, f] { g.status = Show(g, *f); });
}

}  // namespace kiln::cli
