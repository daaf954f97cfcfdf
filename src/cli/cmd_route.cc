// kiln route add|ls|rm
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct RouteFlags {
  std::string method, path, target, auth = "key", mode = "sync", errors, id;
  bool json = false;
};

Status Add(const Globals& g, const RouteFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  nlohmann::json body = {{"method", f.method}, {"path", f.path}, {"auth", f.auth}, {"mode", f.mode}};
  if (!f.errors.empty()) body["errors"] = f.errors;
  size_t colon = f.target.find(':');
  body["function"] = f.target.substr(0, colon);
  if (colon != std::string::npos) body["version"] = std::atoll(f.target.c_str() + colon + 1);
  KILN_ASSIGN_OR_RETURN(auto r, client.Call("POST", "/v1/routes", body));
  if (f.json) {
    PrintJson(r);
  } else {
    std::printf("route %lld: %s %s -> %s (auth %s, errors %s)\n", static_cast<long long>(r["id"].get<int64_t>()),
                r["method"].get<std::string>().c_str(), r["path"].get<std::string>().c_str(),
                f.target.c_str(), r["auth"].get<std::string>().c_str(), r["errors"].get<std::string>().c_str());
  }
  return OkStatus();
}

Status List(const Globals& g, const RouteFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", "/v1/routes"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : j["routes"]) {
    std::string target = r["function"].get<std::string>() + (r["version"].is_null() ? "" : ":" + Cell(r["version"]));
    rows.push_back({Cell(r["id"]), Cell(r["method"]), Cell(r["path"]), target, Cell(r["auth"]), Cell(r["mode"]),
                    Cell(r["errors"])});
  }
  PrintTable({"ID", "METHOD", "PATH", "FUNCTION", "AUTH", "MODE", "ERRORS"}, rows);
  return OkStatus();
}

Status Remove(const Globals& g, const RouteFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("DELETE", "/v1/routes/" + f.id));
  std::printf("route %s removed\n", f.id.c_str());
  return OkStatus();
}

}  // namespace

void AddRoute(CLI::App& app, Globals& g) {
  auto f = std::make_shared<RouteFlags>();
  auto* route = app.add_subcommand("route", "Manage HTTP routes")->require_subcommand(1);
  auto* add = route->add_subcommand("add", "Route METHOD PATH to FUNCTION[:VERSION]");
  add->add_option("method", f->method)->required();
  add->add_option("path", f->path)->required();
  add->add_option("function", f->target, "FUNCTION or FUNCTION:VERSION")->required();
  add->add_option("--auth", f->auth, "key (default) or none")->check(CLI::IsMember({"key", "none"}));
  add->add_option("--mode", f->mode, "sync (default)");
  add->add_option("--errors", f->errors,
                  "what callers see of a failure: generic (auth none's default) or detailed (auth key's)")
      ->check(CLI::IsMember({"generic", "detailed"}));
  add->add_flag("--json", f->json);
  add->callback([&g, f] { g.status = Add(g, *f); });
  auto* ls = route->add_subcommand("ls", "List routes");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });
  auto* rm = route->add_subcommand("rm", "Remove a route by id");
  rm->add_option("id", f->id)->required();
  rm->callback([&g, f] { g.status = Remove(g, *f); });
}

}  // namespace kiln::cli
