// kiln logs NAME: the output of a function's runs in time order, each run framed the
// Lambda way (START, its lines, END, the REPORT line), each line prefixed with the
// run's start time and its short id.
#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct LogsFlags {
  std::string function, since, status;
  int limit = 100;
  bool json = false;
};

void PrintRun(const nlohmann::json& run) {
  const std::string id = run["id"].get<std::string>();
  const std::string prefix = run["started_at"].get<std::string>() + "  " + id.substr(0, 8) + "  ";
  std::printf("%sSTART RequestId: %s Version: %s\n", prefix.c_str(), id.c_str(), Cell(run["version"]).c_str());
  std::istringstream lines(run["logs"].get<std::string>());
  std::string line, report;
  while (std::getline(lines, line)) {
    if (line.rfind("REPORT RequestId:", 0) == 0) {
      report = line;  // Lambda prints it after END
      continue;
    }
    std::printf("%s%s\n", prefix.c_str(), line.c_str());
  }
  std::printf("%sEND RequestId: %s\n", prefix.c_str(), id.c_str());
  if (!report.empty()) std::printf("%s%s\n", prefix.c_str(), report.c_str());
}

Status Logs(const Globals& g, const LogsFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  std::string q = "/v1/logs?function=" + f.function + "&limit=" + std::to_string(f.limit);
  if (!f.since.empty()) q += "&since=" + f.since;
  if (!f.status.empty()) q += "&status=" + f.status;
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", q));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  for (const auto& run : j["runs"]) PrintRun(run);
  return OkStatus();
}

}  // namespace

void AddLogs(CLI::App& app, Globals& g) {
  auto f = std::make_shared<LogsFlags>();
  auto* logs = app.add_subcommand("logs", "The output of a function's runs, oldest first, each framed by START/END/REPORT");
  logs->add_option("function", f->function)->required();
  logs->add_option("--since", f->since, "Only runs started this long ago or later: 10m, 2h, 7d");
  logs->add_option("--status", f->status, "Only runs of this status: ok, error, timeout, oom, crashed, ...");
  logs->add_option("--limit", f->limit, "The newest N runs (default 100, at most 1000)")->check(CLI::Range(1, 1000));
  logs->add_flag("--json", f->json);
  logs->callback([&g, f] { g.status = Logs(g, *f); });
}

}  // namespace kiln::cli
