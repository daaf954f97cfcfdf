// kiln doctor: one line per piece of container isolation, as the daemon found this
// host at its start: active (and how), or MISSING (and why).
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

Status Doctor(const Globals& g, bool json) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", "/v1/doctor"));
  if (json) {
    PrintJson(j);
    return OkStatus();
  }
  for (const auto& piece : j["sandbox"]) {
    std::printf("%-22s %s  %s\n", piece["name"].get<std::string>().c_str(),
                piece["active"].get<bool>() ? "active " : "MISSING", piece["detail"].get<std::string>().c_str());
  }
  return OkStatus();
}

}  // namespace

void AddDoctor(CLI::App& app, Globals& g) {
  auto json = std::make_shared<bool>(false);
  auto* doctor = app.add_subcommand("doctor", "Which container isolation pieces this host gives Kiln");
  doctor->add_flag("--json", *json);
  doctor->callback([&g, json] { g.status = Doctor(g, *json); });
}

}  // namespace kiln::cli
