// kiln audit [--since 1h] [--limit N] [--json]
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/time_util.h"

namespace kiln::cli {
namespace {

struct AuditFlags {
  std::string since;
  int limit = 100;
  bool json = false;
};

Status Show(const Globals& g, const AuditFlags& f) {
  std::string path = "/v1/audit?limit=" + std::to_string(f.limit);
  if (!f.since.empty()) {
    int64_t ago = ParseDurationMs(f.since);
    if (ago < 0) return InvalidArgument("--since '" + f.since + "' is not a duration like 30m, 1h or 7d");
    path += "&since=" + std::to_string(NowEpochMs() - ago);
  }
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", path));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : j["entries"]) {
    rows.push_back({Cell(e["at"]), Cell(e["key_id"]), Cell(e["role"]), Cell(e["source"]), Cell(e["method"]),
                    Cell(e["path"]), Cell(e["status"]), Cell(e["target"])});
  }
  PrintTable({"AT", "KEY", "ROLE", "SOURCE", "METHOD", "PATH", "STATUS", "TARGET"}, rows);
  return OkStatus();
}

}  // namespace

void AddAudit(CLI::App& app, Globals& g) {
  auto f = std::make_shared<AuditFlags>();
  auto* audit = app.add_subcommand("audit", "Control-plane changes: who, from where, what, with what outcome");
  audit->add_option("--since", f->since, "Only changes this recent: 30m, 1h, 7d (default: all)");
  audit->add_option("--limit", f->limit, "At most this many, the newest (default 100, up to 1000)")
      ->check(CLI::Range(1, 1000));
  audit->add_flag("--json", f->json);
  audit->callback([&g, f] { g.status = Show(g, *f); });
}

}  // namespace kiln::cli
