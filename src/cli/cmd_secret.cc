// kiln secret set|ls|rm. `set` reads the value from stdin (never from the command
// line, where other users and shell histories see it); one trailing newline, as
// `echo` or a here-string adds, is dropped. Nothing here ever prints a value.
#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

struct SecretFlags {
  std::string name;
  bool json = false;
};

Status Set(const Globals& g, const SecretFlags& f) {
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (value.ends_with("\r\n")) {
    value.resize(value.size() - 2);
  } else if (value.ends_with('\n')) {
    value.pop_back();
  }
  if (value.empty()) return InvalidArgument("no value on stdin (try: kiln secret set " + f.name + " < file)");
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto r, client.Call("PUT", "/v1/secrets/" + f.name, {{"value", value}}));
  std::printf("secret %s %s\n", f.name.c_str(), r.value("created", false) ? "created" : "updated");
  return OkStatus();
}

Status List(const Globals& g, const SecretFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", "/v1/secrets"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : j["secrets"]) rows.push_back({Cell(s["name"]), Cell(s["updated_at"])});
  PrintTable({"NAME", "UPDATED"}, rows);
  return OkStatus();
}

Status Remove(const Globals& g, const SecretFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("DELETE", "/v1/secrets/" + f.name));
  std::printf("secret %s removed\n", f.name.c_str());
  return OkStatus();
}

}  // namespace

void AddSecret(CLI::App& app, Globals& g) {
  auto f = std::make_shared<SecretFlags>();
  auto* secret = app.add_subcommand("secret", "Manage secrets (env: NAME: secret:SECRET)")->require_subcommand(1);
  auto* set = secret->add_subcommand("set", "Create or replace secret NAME with the value read from stdin");
  set->add_option("name", f->name)->required();
  set->callback([&g, f] { g.status = Set(g, *f); });
  auto* ls = secret->add_subcommand("ls", "List secrets: names and update times, never values");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });
  auto* rm = secret->add_subcommand("rm", "Remove secret NAME");
  rm->add_option("name", f->name)->required();
  rm->callback([&g, f] { g.status = Remove(g, *f); });
}

}  // namespace kiln::cli
