// kiln route add|set|ls|rm
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct RouteFlags {
  std::string method, path, target, auth = "key", mode = "sync", errors, id;
  std::vector<std::string> which;  // route set: ID, or METHOD PATH
  bool json = false;
};

// FUNCTION or FUNCTION:VERSION as the API's function and version fields.
Result<nlohmann::json> Target(const std::string& target) {
  nlohmann::json body;
  size_t colon = target.find(':');
  body["function"] = target.substr(0, colon);
  if (colon == std::string::npos) return body;
  const std::string version = target.substr(colon + 1);
  if (version.empty() || version.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("'" + target + "' is not FUNCTION or FUNCTION:VERSION");
  }
  body["version"] = std::stoll(version);
  return body;
}

Status Add(const Globals& g, const RouteFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  nlohmann::json body = {{"method", f.method}, {"path", f.path}, {"auth", f.auth}, {"mode", f.mode}};
  if (!f.errors.empty()) body["errors"] = f.errors;
  KILN_ASSIGN_OR_RETURN(nlohmann::json target, Target(f.target));
  body.update(target);
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

// Repoints one route, named by its id or by METHOD PATH, in one write.
Status Set(const Globals& g, const RouteFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(nlohmann::json body, Target(f.target));
  std::string id = f.which.front();
  if (f.which.size() == 2) {
    std::string method = f.which[0];
    std::transform(method.begin(), method.end(), method.begin(), ::toupper);
    KILN_ASSIGN_OR_RETURN(auto routes, client.Call("GET", "/v1/routes"));
    id.clear();
    for (const auto& r : routes["routes"]) {
      if (r["method"] == method && r["path"] == f.which[1]) id = Cell(r["id"]);
    }
    if (id.empty()) return NotFound("no route " + method + " " + f.which[1]);
  }
  KILN_ASSIGN_OR_RETURN(auto r, client.Call("PUT", "/v1/routes/" + id, body));
  if (f.json) {
    PrintJson(r);
  } else {
    std::printf("route %s: %s %s -> %s\n", id.c_str(), r["method"].get<std::string>().c_str(),
                r["path"].get<std::string>().c_str(), f.target.c_str());
  }
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
  auto* set = route->add_subcommand("set", "Point a route (ID, or METHOD PATH) at FUNCTION[:VERSION] at once");
  set->add_option("route", f->which, "ID, or METHOD PATH")->required()->expected(1, 2);
  set->add_option("--function", f->target, "FUNCTION (follows its serving version) or FUNCTION:VERSION (pinned)")
      ->required();
  set->add_flag("--json", f->json);
  set->callback([&g, f] { g.status = Set(g, *f); });
  auto* ls = route->add_subcommand("ls", "List routes");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });
  auto* rm = route->add_subcommand("rm", "Remove a route by id");
  rm->add_option("id", f->id)->required();
  rm->callback([&g, f] { g.status = Remove(g, *f); });
}

}  // namespace kiln::cli
