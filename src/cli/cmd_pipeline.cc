// kiln pipeline create|start|show|ls|runs|rm
//
// A pipeline is defined from a pipeline.yaml (-f) or from --step/--map-step flags in
// the order given; `start` queues a run and prints its id alone on the last line
// (or waits for it with --wait); `show` prints a run step by step.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/pipeline_file.h"
#include "model/records.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct PipelineFlags {
  std::string name, file, data, id, idempotency_key;
  std::vector<std::string> steps, map_steps;
  std::vector<std::string> order;  // "step" / "map" in the order the flags came
  bool json = false, wait = false;
  double wait_s = 900;
  int limit = 20;
};

bool Ended(const json& run) { return run.value("status", "") != "running"; }

// "split -> map score -> summary"
std::string Chain(const json& steps) {
  std::string chain;
  for (const json& s : steps) {
    chain += (chain.empty() ? "" : " -> ") + std::string(s.value("map", false) ? "map " : "") +
             s["function"].get<std::string>();
  }
  return chain;
}

Result<json> Definition(const PipelineFlags& f) {
  if (!f.file.empty()) {
    if (!f.order.empty()) return InvalidArgument("give -f or --step/--map-step, not both");
    std::ifstream in(f.file);
    if (!in) return InvalidArgument("cannot read " + f.file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ParsePipelineFile(ss.str());
  }
  if (f.order.empty()) return InvalidArgument("a pipeline needs steps: -f pipeline.yaml, or --step FUNCTION ...");
  json steps = json::array();
  size_t plain = 0, map = 0;
  for (const std::string& kind : f.order) {
    if (kind == "map") {
      steps.push_back({{"function", f.map_steps.at(map++)}, {"map", true}});
    } else {
      steps.push_back({{"function", f.steps.at(plain++)}});
    }
  }
  return json{{"steps", steps}};
}

Status Create(const Globals& g, const PipelineFlags& f) {
  if (!ValidName(f.name)) return InvalidArgument("pipeline name '" + f.name + "': use 1-64 of [A-Za-z0-9_-]");
  KILN_ASSIGN_OR_RETURN(json body, Definition(f));
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(json p, client.Call("PUT", "/v1/pipelines/" + f.name, body));
  if (f.json) {
    PrintJson(p);
    return OkStatus();
  }
  std::printf("pipeline %s: %s\n", f.name.c_str(), Chain(p["steps"]).c_str());
  return OkStatus();
}

void PrintRun(const json& r) {
  std::printf("pipeline run %s (%s): %s", Cell(r["id"]).c_str(), Cell(r["pipeline"]).c_str(),
              Cell(r["status"]).c_str());
  if (r["duration_ms"].is_number()) std::printf(" in %s ms", Cell(r["duration_ms"]).c_str());
  std::printf("\n");
  std::vector<std::vector<std::string>> rows;
  for (const json& s : r["steps"]) {
    const json& counts = s["counts"];
    const bool one = !s.value("map", false) && s["runs"].size() == 1;
    rows.push_back({Cell(s["index"]), Cell(s["function"]) + (s["version"].is_null() ? "" : ":" + Cell(s["version"])),
                    s.value("map", false) ? "map" : "step", Cell(s["status"]), Cell(counts["runs"]),
                    Cell(counts["ok"]), Cell(counts["failed"]), Cell(counts["pending"]), Cell(s["duration_ms"]),
                    one ? Cell(s["runs"][0]["run_id"]) : "-"});
  }
  PrintTable({"STEP", "FUNCTION", "KIND", "STATUS", "RUNS", "OK", "FAILED", "PENDING", "DURATION_MS", "RUN"}, rows);
  if (!r["error_message"].is_null()) std::printf("error: %s: %s\n", Cell(r["error_type"]).c_str(), Cell(r["error_message"]).c_str());
  if (!r["result"].is_null()) std::printf("result: %s\n", r["result"].dump().c_str());
}

// "step 2 of 3 (map score): 12 of 20 runs done, 4.2 s", for the step under way (the
// first one not ok), while --wait waits.
std::string Progress(const json& run, double elapsed_s) {
  const json& steps = run["steps"];
  if (!steps.is_array() || steps.empty()) return "";
  size_t i = 0;
  while (i + 1 < steps.size() && steps[i].value("status", "") == "ok") ++i;
  const json& s = steps[i];
  const json& counts = s["counts"];
  const int64_t done = counts.value("ok", int64_t{0}) + counts.value("failed", int64_t{0});
  char line[256];
  std::snprintf(line, sizeof line, "step %zu of %zu (%s%s): %lld of %lld runs done, %.1f s", i + 1, steps.size(),
                s.value("map", false) ? "map " : "", Cell(s["function"]).c_str(), static_cast<long long>(done),
                static_cast<long long>(counts.value("runs", int64_t{0})), elapsed_s);
  return line;
}

Status Show(Client& client, const std::string& id, const PipelineFlags& f) {
  const auto began = std::chrono::steady_clock::now();
  std::string last;
  auto done = [&](const json& run) {
    if (!f.wait || Ended(run)) return true;
    // One progress line on stderr whenever the counts move (the elapsed time aside).
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    std::string line = Progress(run, elapsed);
    if (line.substr(0, line.rfind(',')) != last.substr(0, last.rfind(','))) {
      std::fprintf(stderr, "%s\n", line.c_str());
      last = line;
    }
    return false;
  };
  KILN_ASSIGN_OR_RETURN(json r, PollUntil(client, "/v1/pipeline-runs/" + id, done, f.wait_s, "pipeline run " + id));
  if (f.json) {
    PrintJson(r);
  } else {
    PrintRun(r);
  }
  if (f.wait && r.value("status", "") != "ok") {
    return Internal("pipeline run " + id + " " + r.value("status", "") + ": " + Cell(r["error_message"]));
  }
  return OkStatus();
}

Status Start(const Globals& g, const PipelineFlags& f) {
  KILN_ASSIGN_OR_RETURN(std::string input, EventText(f.data));
  if (!json::accept(input)) return InvalidArgument("--data is not valid JSON");
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  std::map<std::string, std::string> headers;
  if (!f.idempotency_key.empty()) headers["Idempotency-Key"] = f.idempotency_key;
  KILN_ASSIGN_OR_RETURN(Reply r, client.Send("POST", "/v1/pipelines/" + f.name + "/runs", input, "application/json",
                                             headers));
  if (r.status != 202) return Status(r.status == 404 ? Code::kNotFound : Code::kInvalidArgument, ErrorText(r));
  json accepted = json::parse(r.body, nullptr, false);
  if (!accepted.is_object() || !accepted.contains("run_id")) return Internal("unexpected answer: " + r.body.substr(0, 200));
  const std::string id = accepted["run_id"].get<std::string>();
  if (f.wait) return Show(client, id, f);
  if (f.json) {
    PrintJson(accepted);
  } else {
    std::fprintf(stderr, "%s; follow it with: kiln pipeline show %s --wait\n",
                 accepted.value("created", true) ? "started" : "started before (same idempotency key)", id.c_str());
    std::printf("%s\n", id.c_str());
  }
  return OkStatus();
}

Status List(const Globals& g, const PipelineFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(json j, client.Call("GET", "/v1/pipelines"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& p : j["pipelines"]) {
    rows.push_back({Cell(p["name"]), Chain(p["steps"]), Cell(p["updated_at"])});
  }
  PrintTable({"NAME", "STEPS", "UPDATED"}, rows);
  return OkStatus();
}

Status Runs(const Globals& g, const PipelineFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(json j, client.Call("GET", "/v1/pipelines/" + f.name + "/runs?limit=" + std::to_string(f.limit)));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& r : j["runs"]) {
    const int64_t reached = r["current_step"].get<int64_t>() + 1;  // 1-based: "3/3" is the last step
    rows.push_back({Cell(r["id"]), Cell(r["status"]), std::to_string(reached) + "/" + Cell(r["step_count"]),
                    Cell(r["duration_ms"]), Cell(r["started_at"]), Cell(r["error_message"])});
  }
  PrintTable({"ID", "STATUS", "STEP", "DURATION_MS", "STARTED", "ERROR"}, rows);
  return OkStatus();
}

}  // namespace

void AddPipeline(CLI::App& app, Globals& g) {
  auto f = std::make_shared<PipelineFlags>();
  auto* cmd = app.add_subcommand("pipeline", "Pipelines: chains of background steps")->require_subcommand(1);

  auto* create = cmd->add_subcommand("create", "Create or replace a pipeline");
  create->add_option("name", f->name, "Pipeline name")->required();
  create->add_option("-f,--file", f->file, "pipeline.yaml: the steps");
  auto* step = create->add_option("--step", f->steps, "A step: FUNCTION or FUNCTION:VERSION (repeat, in order)");
  auto* map = create->add_option("--map-step", f->map_steps,
                                 "A map step: FUNCTION runs once per element of the previous result (a list)");
  create->add_flag("--json", f->json);
  create->callback([&g, f, create, step, map] {
    for (const CLI::Option* o : create->parse_order()) {
      if (o == step) f->order.push_back("step");
      if (o == map) f->order.push_back("map");
    }
    g.status = Create(g, *f);
  });

  auto* start = cmd->add_subcommand("start", "Start a run of a pipeline; prints its id");
  start->add_option("name", f->name, "Pipeline name")->required();
  start->add_option("--data,-d", f->data, "The first step's event: JSON text, or @file.json");
  start->add_option("--idempotency-key", f->idempotency_key, "The same key within 24 h: the same run, started once");
  start->add_flag("--wait", f->wait, "Wait for the run to end and show it");
  start->add_option("--wait-s", f->wait_s, "How long --wait waits at most (default 900)");
  start->add_flag("--json", f->json);
  start->callback([&g, f] { g.status = Start(g, *f); });

  auto* show = cmd->add_subcommand("show", "Show a pipeline run, step by step");
  show->add_option("id", f->id, "Pipeline run id")->required();
  show->add_flag("--wait", f->wait, "Wait until the run has ended");
  show->add_option("--wait-s", f->wait_s, "How long --wait waits at most (default 900)");
  show->add_flag("--json", f->json);
  show->callback([&g, f] {
    auto client = g.MakeClient();
    g.status = client.ok() ? Show(*client, f->id, *f) : client.status();
  });

  auto* ls = cmd->add_subcommand("ls", "List pipelines");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });

  auto* runs = cmd->add_subcommand("runs", "List a pipeline's runs, newest first");
  runs->add_option("name", f->name, "Pipeline name")->required();
  runs->add_option("--limit", f->limit, "At most this many (default 20)");
  runs->add_flag("--json", f->json);
  runs->callback([&g, f] { g.status = Runs(g, *f); });

  auto* rm = cmd->add_subcommand("rm", "Remove a pipeline (its runs are kept)");
  rm->add_option("name", f->name, "Pipeline name")->required();
  rm->callback([&g, f] {
    auto client = g.MakeClient();
    if (!client.ok()) {
      g.status = client.status();
      return;
    }
    auto r = client->Call("DELETE", "/v1/pipelines/" + f->name);
    g.status = r.ok() ? OkStatus() : r.status();
  });
}

}  // namespace kiln::cli
