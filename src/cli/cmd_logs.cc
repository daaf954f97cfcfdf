// kiln logs NAME: the output of a function's runs in time order, each run framed the
// Lambda way (START, its lines, END, the REPORT line), each line prefixed with the
// run's start time and its short id.
#include <cstdio>
#include <map>
#include <sstream>
#include <string_view>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct LogsFlags {
  std::string function, since, status;
  int limit = 100;
  bool json = false, follow = false;
};

std::string Query(const LogsFlags& f) {
  std::string q = "/v1/logs?function=" + f.function + "&limit=" + std::to_string(f.limit);
  if (!f.since.empty()) q += "&since=" + f.since;
  if (!f.status.empty()) q += "&status=" + f.status;
  return q;
}

// Prints server-sent events as they come, the way PrintRun prints a recorded run; a
// line a run has not finished yet waits for its end.
class EventPrinter {
 public:
  // Takes the next bytes of the stream; false once the daemon dropped this follower.
  bool Feed(std::string_view bytes) {
    pending_.append(bytes);
    for (size_t end; (end = pending_.find("\n\n")) != std::string::npos;) {
      const std::string event = pending_.substr(0, end);
      pending_.erase(0, end + 2);
      if (!Print(event)) return false;
    }
    return true;
  }

 private:
  bool Print(const std::string& event) {
    std::string kind, data;
    std::istringstream lines(event);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("event: ", 0) == 0) kind = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data = line.substr(6);
    }
    if (kind.empty()) return true;  // a keep-alive comment
    auto j = nlohmann::json::parse(data, nullptr, false);
    if (!j.is_object()) return true;
    if (kind == "dropped") {
      std::fprintf(stderr, "kiln: %s\n", j.value("text", "").c_str());
      return false;
    }
    const std::string id = j.value("run_id", "");
    const std::string prefix = j.value("at", "") + "  " + id.substr(0, 8) + "  ";
    std::string& partial = partial_[id];
    if (kind == "start") {
      std::printf("%sSTART RequestId: %s Version: %s\n", prefix.c_str(), id.c_str(), Cell(j["version"]).c_str());
    } else if (kind == "output") {
      partial += j.value("text", "");
      for (size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1)) {
        std::printf("%s%s\n", prefix.c_str(), partial.substr(0, nl).c_str());
      }
    } else if (kind == "end") {
      if (!partial.empty()) std::printf("%s%s\n", prefix.c_str(), partial.c_str());
      partial_.erase(id);
      std::printf("%sEND RequestId: %s\n", prefix.c_str(), id.c_str());
      const std::string report = j.value("text", "");
      if (!report.empty()) std::printf("%s%s\n", prefix.c_str(), report.c_str());
    }
    std::fflush(stdout);
    return true;
  }

  std::string pending_;
  std::map<std::string, std::string> partial_;  // run id -> its unfinished line
};

Status Follow(Client& client, const LogsFlags& f) {
  EventPrinter printer;
  bool dropped = false;
  KILN_ASSIGN_OR_RETURN(Reply r, client.Follow(Query(f) + "&follow=true", [&](std::string_view bytes) {
                          dropped = !printer.Feed(bytes);
                          return !dropped;
                        }));
  if (r.status != 200) return Status(r.status == 404 ? Code::kNotFound : Code::kInvalidArgument, ErrorText(r));
  if (dropped) return Status(Code::kResourceExhausted, "the daemon dropped this follower");
  return OkStatus();
}

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
  if (f.follow) {
    if (f.json) return InvalidArgument("--follow prints lines as they come; --json lists recorded runs");
    return Follow(client, f);
  }
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", Query(f)));
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
  logs->add_flag("-f,--follow", f->follow,
                 "Then follow: each run's output as it is printed, until interrupted (--status filters the past runs only)");
  logs->add_flag("--json", f->json);
  logs->callback([&g, f] { g.status = Logs(g, *f); });
}

}  // namespace kiln::cli
