// kiln key create|ls|rm
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct KeyFlags {
  std::string name, id;
  std::vector<std::string> routes, functions;
  bool admin = false, json = false;
};

std::string Join(const nlohmann::json& list) {
  std::string out;
  for (const auto& v : list) out += (out.empty() ? "" : ",") + v.get<std::string>();
  return out.empty() ? "-" : out;
}

Status Create(const Globals& g, const KeyFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto k, client.Call("POST", "/v1/keys",
                                            {{"name", f.name}, {"routes", f.routes},
                                             {"functions", f.functions}, {"admin", f.admin}}));
  std::printf("key %s (%s) routes %s functions %s%s\n", k["id"].get<std::string>().c_str(),
              f.name.c_str(), Join(k["routes"]).c_str(), Join(k["functions"]).c_str(),
              f.admin ? " admin" : "");
  std::printf("shown once; store it now:\n%s\n", k["key"].get<std::string>().c_str());
  return OkStatus();
}

Status List(const Globals& g, const KeyFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", "/v1/keys"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : j["keys"]) {
    rows.push_back({Cell(k["id"]), Cell(k["name"]), Join(k["routes"]), Join(k["functions"]),
                    Cell(k["admin"]), Cell(k["created_at"])});
  }
  PrintTable({"ID", "NAME", "ROUTES", "FUNCTIONS", "ADMIN", "CREATED"}, rows);
  return OkStatus();
}

Status Remove(const Globals& g, const KeyFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("DELETE", "/v1/keys/" + f.id));
  std::printf("key %s removed\n", f.id.c_str());
  return OkStatus();
}

}  // namespace

void AddKey(CLI::App& app, Globals& g) {
  auto f = std::make_shared<KeyFlags>();
  auto* key = app.add_subcommand("key", "Manage API keys")->require_subcommand(1);
  auto* create = key->add_subcommand("create", "Create a key; it is printed once, alone on the last line");
  create->add_option("name", f->name)->required();
  create->add_option("--route", f->routes, "Route path the key may call (repeatable)");
  create->add_option("--function", f->functions, "Function whose routes the key may call (repeatable)");
  create->add_flag("--admin", f->admin, "Control-API key");
  create->callback([&g, f] { g.status = Create(g, *f); });
  auto* ls = key->add_subcommand("ls", "List keys (never their secrets)");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });
  auto* rm = key->add_subcommand("rm", "Revoke a key by id");
  rm->add_option("id", f->id)->required();
  rm->callback([&g, f] { g.status = Remove(g, *f); });
}

}  // namespace kiln::cli
