// kiln ps [--all]: the containers of the warm pools, as GET /v1/containers lists them,
// then the zygotes and snapshot templates they fork from (GET /v1/zygotes).
#include <cmath>
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct PsFlags {
  bool all = false, json = false;
};

// "12/256 MB +86 shared": private memory (what the cgroup is charged, which the limit
// applies to) against the limit, and the resident pages shared with a zygote or
// template; the RSS where no cgroup says more. Ended containers have none.
std::string MemoryCell(const json& c) {
  char buf[80];
  const json priv = c.value("private_mb", json()), shared = c.value("shared_mb", json());
  if (priv.is_number()) {
    std::snprintf(buf, sizeof buf, "%.0f/%s MB +%.0f shared", priv.get<double>(), Cell(c, "memory_mb").c_str(),
                  shared.is_number() ? shared.get<double>() : 0.0);
    return buf;
  }
  auto rss = c.find("rss_mb");
  if (rss == c.end() || !rss->is_number()) return "-";
  std::snprintf(buf, sizeof buf, "%.0f/%s MB", rss->get<double>(), Cell(c, "memory_mb").c_str());
  return buf;
}

std::vector<std::string> Row(const json& c, bool all) {
  std::vector<std::string> row = {Cell(c, "id"),
                                  Cell(c, "function"),
                                  Cell(c, "version"),
                                  Cell(c, "state"),
                                  Cell(c, "start"),
                                  Cell(c, "invocations"),
                                  SecondsCell(c.value("age_s", json())),
                                  SecondsCell(c.value("idle_s", json())),
                                  MemoryCell(c)};
  if (all) row.insert(row.end(), {Cell(c, "reason"), Cell(c, "ended_at")});
  return row;
}

Status List(const Globals& g, const PsFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j,
                        client.Call("GET", f.all ? "/v1/containers?all=true" : "/v1/containers"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::string> header = {"CONTAINER",   "FUNCTION", "VERSION", "STATE", "START",
                                     "INVOCATIONS", "AGE",      "IDLE",    "RSS"};
  if (f.all) header.insert(header.end(), {"REASON", "ENDED"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : j["containers"]) rows.push_back(Row(c, f.all));
  PrintTable(header, rows);

  KILN_ASSIGN_OR_RETURN(auto z, client.Call("GET", "/v1/zygotes"));
  if (z["zygotes"].empty()) return OkStatus();
  std::printf("\n");
  std::vector<std::vector<std::string>> sources;
  for (const auto& s : z["zygotes"]) {
    std::string of;
    for (const auto& l : s["layers"]) of += (of.empty() ? "" : ",") + l.get<std::string>();
    if (s["kind"] == "snapshot") of = Cell(s, "function") + ":" + Cell(s, "version");
    std::string rss = s["rss_mb"].is_number() ? std::to_string(std::lround(s["rss_mb"].get<double>())) + " MB" : "-";
    sources.push_back({Cell(s, "id"), Cell(s, "kind"), of.empty() ? "-" : of, Cell(s, "state"), Cell(s, "pid"),
                       Cell(s, "forks"), std::to_string(s["preloaded"].size()), rss, Cell(s, "message")});
  }
  PrintTable({"FORK SOURCE", "KIND", "OF", "STATE", "PID", "FORKS", "PRELOADED", "RSS", "MESSAGE"}, sources);
  return OkStatus();
}

}  // namespace

void AddPs(CLI::App& app, Globals& g) {
  auto f = std::make_shared<PsFlags>();
  auto* ps = app.add_subcommand(
      "ps", "List live containers: function, version, state, age, idle time, RSS");
  ps->add_flag("--all", f->all, "Also the last 100 ended containers, with why they ended");
  ps->add_flag("--json", f->json);
  ps->callback([&g, f] { g.status = List(g, *f); });
}

}  // namespace kiln::cli
