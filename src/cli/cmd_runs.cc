// kiln runs [FUNCTION] and kiln run show ID
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct RunsFlags {
  std::string function, status, id;
  bool cold = false, warm = false, json = false, wait = false;
  int limit = 20;
  double wait_s = 900;
};

Status List(const Globals& g, const RunsFlags& f) {
  if (f.cold && f.warm) return InvalidArgument("--cold and --warm exclude each other");
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  std::string q = "/v1/runs?limit=" + std::to_string(f.limit);
  if (!f.function.empty()) q += "&function=" + f.function;
  if (!f.status.empty()) q += "&status=" + f.status;
  if (f.cold || f.warm) q += std::string("&cold=") + (f.cold ? "true" : "false");
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", q));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : j["runs"]) {
    // "cold:zygote": how a cold start's container started.
    const bool started_as = r.contains("start") && r["start"].is_string();
    std::string start = !r["cold"].get<bool>() ? "warm" : started_as ? "cold:" + r["start"].get<std::string>() : "cold";
    rows.push_back({Cell(r["id"]), Cell(r["function"]) + ":" + Cell(r["version"]), Cell(r["trigger"]),
                    Cell(r["status"]), Cell(r["http_status"]), start,
                    Cell(r["duration_ms"]), Cell(r["init_ms"]), Cell(r["max_memory_mb"]),
                    Cell(r["started_at"])});
  }
  PrintTable({"ID", "FUNCTION", "TRIGGER", "STATUS", "HTTP", "START", "DURATION_MS", "INIT_MS",
              "MAX_MB", "STARTED"},
             rows);
  return OkStatus();
}

// --wait: an async run is queued or running until its final status.
bool Pending(const nlohmann::json& run) {
  const std::string status = run.value("status", "");
  return status == "queued" || status == "running";
}

Status Show(const Globals& g, const RunsFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto r, PollUntil(
                                    client, "/v1/runs/" + f.id,
                                    [&](const nlohmann::json& run) { return !f.wait || !Pending(run); },
                                    f.wait_s, "run " + f.id));
  if (f.json) {
    PrintJson(r);
    return OkStatus();
  }
  for (const char* field :
       {"id", "function", "version", "trigger", "route", "status", "http_status", "cold",
        "queue_ms", "fork_ms", "sandbox_ms", "init_ms", "start", "start_note", "duration_ms", "max_memory_mb", "container_id", "started_at",
        "request_bytes", "response_bytes", "error_type", "error_message", "attempt"}) {
    std::printf("%-15s %s\n", field, Cell(r[field]).c_str());
  }
  std::printf("%-15s %s%s\n", "result", r["result"].get<std::string>().c_str(),
              r["truncated"].get<bool>() ? " [truncated]" : "");
  std::printf("--- logs ---\n%s", r["logs"].get<std::string>().c_str());
  return OkStatus();
}

}  // namespace

void AddRuns(CLI::App& app, Globals& g) {
  auto f = std::make_shared<RunsFlags>();
  auto* runs = app.add_subcommand("runs", "List run records, newest first");
  runs->add_option("function", f->function, "Only this function");
  runs->add_option("--status", f->status, "ok, error, timeout, oom, crashed, throttled, rejected, ...");
  runs->add_flag("--cold", f->cold, "Only cold starts");
  runs->add_flag("--warm", f->warm, "Only warm runs");
  runs->add_option("--limit", f->limit, "At most this many (default 20)");
  runs->add_flag("--json", f->json);
  runs->callback([&g, f] { g.status = List(g, *f); });

  auto* run = app.add_subcommand("run", "One run record")->require_subcommand(1);
  auto* show = run->add_subcommand("show", "Show a run with its logs");
  show->add_option("id", f->id)->required()->check(CLI::Validator(
      [](std::string& id) { return id.empty() ? std::string("a run id is required") : std::string(); }, "ID"));
  show->add_flag("--json", f->json);
  show->add_flag("--wait", f->wait, "Wait until a queued or running (async) run has ended");
  show->add_option("--wait-s", f->wait_s, "How long --wait waits at most (default 900)");
  show->callback([&g, f] { g.status = Show(g, *f); });
}

}  // namespace kiln::cli
