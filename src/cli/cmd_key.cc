// kiln key create|ls|rm|rotate
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/time_util.h"

namespace kiln::cli {
namespace {

struct KeyFlags {
  std::string name, id, role, expires, grace;
  std::vector<std::string> routes, functions;
  bool admin = false, json = false, metrics = false;
};

std::string Join(const nlohmann::json& list) {
  std::string out;
  for (const auto& v : list) out += (out.empty() ? "" : ",") + v.get<std::string>();
  return out.empty() ? "-" : out;
}

// "30d", "12h", "90m", "45s" (or a bare number of seconds) as whole seconds.
Result<int64_t> DurationSeconds(const std::string& flag, const std::string& text) {
  int64_t ms = ParseDurationMs(text);
  if (ms < 0 || ms % 1000 != 0) {
    return InvalidArgument(flag + " '" + text + "' is not a duration like 45s, 90m, 12h or 30d");
  }
  return ms / 1000;
}

// The new key alone on the last line (SPEC §4), so scripts can take it with tail -1.
void PrintNewKey(const nlohmann::json& k) {
  std::printf("shown once; store it now:\n%s\n", k["key"].get<std::string>().c_str());
}

Status Create(const Globals& g, const KeyFlags& f) {
  nlohmann::json body = {{"name", f.name}, {"routes", f.routes}, {"functions", f.functions}, {"admin", f.admin}};
  if (!f.role.empty()) body["role"] = f.role;
  if (f.metrics) body["metrics"] = true;
  if (!f.expires.empty()) {
    KILN_ASSIGN_OR_RETURN(body["expires_in_s"], DurationSeconds("--expires", f.expires));
  }
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto k, client.Call("POST", "/v1/keys", body));
  std::printf("key %s (%s) routes %s functions %s role %s expires %s\n", k["id"].get<std::string>().c_str(),
              f.name.c_str(), Join(k["routes"]).c_str(), Join(k["functions"]).c_str(), Cell(k["role"]).c_str(),
              Cell(k["expires_at"]).c_str());
  PrintNewKey(k);
  return OkStatus();
}

Status Rotate(const Globals& g, const KeyFlags& f) {
  nlohmann::json body = nlohmann::json::object();
  if (!f.grace.empty()) {
    KILN_ASSIGN_OR_RETURN(body["grace_s"], DurationSeconds("--grace", f.grace));
  }
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto k, client.Call("POST", "/v1/keys/" + f.id + "/rotate", body));
  std::printf("key %s rotated; the old secret is valid until %s\n", f.id.c_str(),
              k["previous_valid_until"].is_null() ? "now (no grace)" : Cell(k["previous_valid_until"]).c_str());
  PrintNewKey(k);
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
    rows.push_back({Cell(k["id"]) + (k.value("legacy", false) ? " (legacy)" : ""), Cell(k["name"]),
                    Join(k["routes"]), Join(k["functions"]), Cell(k, "role"), Cell(k["created_at"]),
                    Cell(k, "expires_at"), Cell(k, "last_used_at")});
  }
  PrintTable({"ID", "NAME", "ROUTES", "FUNCTIONS", "ROLE", "CREATED", "EXPIRES", "LAST USED"}, rows);
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
  create->add_option("--role", f->role, "Control-API role: admin, deployer or reader")
      ->check(CLI::IsMember({"admin", "deployer", "reader"}));
  create->add_flag("--admin", f->admin, "Same as --role admin");
  create->add_flag("--metrics", f->metrics, "The key may read GET /metrics (for a Prometheus scraper)");
  create->add_option("--expires", f->expires, "The key stops working after this long: 45s, 90m, 12h, 30d");
  create->callback([&g, f] { g.status = Create(g, *f); });
  auto* ls = key->add_subcommand("ls", "List keys (never their secrets; old-format keys marked legacy)");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });
  auto* rm = key->add_subcommand("rm", "Revoke a key by id");
  rm->add_option("id", f->id)->required();
  rm->callback([&g, f] { g.status = Remove(g, *f); });
  auto* rotate = key->add_subcommand(
      "rotate", "A new secret for the key (same id and scope), printed once, alone on the last line");
  rotate->add_option("id", f->id)->required();
  rotate->add_option("--grace", f->grace, "How long the old secret keeps working: 0 (default), 90m, 1h, 7d");
  rotate->callback([&g, f] { g.status = Rotate(g, *f); });
}

}  // namespace kiln::cli
