// kiln ps [--all]: the containers of the warm pools, as GET /v1/containers lists them.
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct PsFlags {
  bool all = false, json = false;
};

// "45/256 MB": resident memory against the container's limit; ended containers have none.
std::string MemoryCell(const json& c) {
  auto rss = c.find("rss_mb");
  if (rss == c.end() || !rss->is_number()) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.0f/%s MB", rss->get<double>(), Cell(c, "memory_mb").c_str());
  return buf;
}

std::vector<std::string> Row(const json& c, bool all) {
  std::vector<std::string> row = {Cell(c, "id"),
                                  Cell(c, "function"),
                                  Cell(c, "version"),
                                  Cell(c, "state"),
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
  std::vector<std::string> header = {"CONTAINER",   "FUNCTION", "VERSION", "STATE",
                                     "INVOCATIONS", "AGE",      "IDLE",    "RSS"};
  if (f.all) header.insert(header.end(), {"REASON", "ENDED"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : j["containers"]) rows.push_back(Row(c, f.all));
  PrintTable(header, rows);
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
