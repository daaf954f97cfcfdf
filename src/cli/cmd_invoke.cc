// kiln invoke FUNCTION [--data JSON|@file] [--async [--idempotency-key K]]
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct InvokeFlags {
  std::string function, data, version, idempotency_key;
  bool json = false, async = false;
};

Status Invoke(const Globals& g, const InvokeFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(std::string event, EventText(f.data));
  if (!nlohmann::json::accept(event)) return InvalidArgument("--data is not valid JSON");
  std::map<std::string, std::string> headers;
  if (!f.version.empty()) headers["X-Kiln-Version"] = f.version;
  if (f.async) headers["X-Kiln-Invocation-Type"] = "Event";
  if (!f.idempotency_key.empty()) headers["Idempotency-Key"] = f.idempotency_key;
  KILN_ASSIGN_OR_RETURN(Reply r, client.Send("POST", "/v1/functions/" + f.function + "/invocations",
                                             event, "application/json", headers));
  if (f.async) {
    if (r.status != 202) return Internal(ErrorText(r));
    auto accepted = nlohmann::json::parse(r.body, nullptr, false);
    if (f.json) {
      PrintJson(accepted);
    } else {
      // The run id alone on the last line, for scripts (`kiln run show ID --wait`).
      std::fprintf(stderr, "queued; follow it with: kiln run show %s --wait\n", r.headers["x-kiln-run-id"].c_str());
      std::printf("%s\n", r.headers["x-kiln-run-id"].c_str());
    }
    return OkStatus();
  }
  std::string run_status = r.headers.count("x-kiln-run-status") ? r.headers["x-kiln-run-status"] : "";
  if (run_status.empty()) return Status(Code::kNotFound, ErrorText(r));  // refused before any run
  if (f.json) {
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    PrintJson({{"run_id", r.headers["x-kiln-run-id"]},
               {"status", run_status},
               {"http_status", r.status},
               {"body", body.is_discarded() ? nlohmann::json(r.body) : body}});
  } else {
    std::printf("%s\n", r.body.c_str());
  }
  if (run_status != "ok") {
    return Internal("run " + r.headers["x-kiln-run-id"] + " " + run_status + ": " + ErrorText(r));
  }
  return OkStatus();
}

}  // namespace

Result<std::string> EventText(const std::string& data) {
  if (data.empty()) return std::string("null");
  if (data[0] != '@') return data;
  std::ifstream in(data.substr(1), std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + data.substr(1));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void AddInvoke(CLI::App& app, Globals& g) {
  auto f = std::make_shared<InvokeFlags>();
  auto* cmd = app.add_subcommand("invoke", "Invoke a function directly (no route), print its result");
  cmd->add_option("function", f->function, "Function name")->required();
  cmd->add_option("--data,-d", f->data, "The event: JSON text, or @file.json");
  cmd->add_option("--version", f->version, "A version number (default: latest)");
  cmd->add_flag("--json", f->json, "Print run id, status and body as JSON");
  cmd->add_flag("--async", f->async, "Queue it as a background run; prints the run id");
  cmd->add_option("--idempotency-key", f->idempotency_key, "With --async: the same key within 24 h, the same run");
  cmd->callback([&g, f] { g.status = Invoke(g, *f); });
}

}  // namespace kiln::cli
