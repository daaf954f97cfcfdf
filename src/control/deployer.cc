#include "control/deployer.h"

#include "common/crypto.h"
#include "common/time_util.h"

namespace kiln::control {
namespace {

std::string Named(const std::string& function, int64_t version) {
  return function + ":" + std::to_string(version);
}

std::string RouteName(const Route& r) { return r.method + " " + r.path + " (id " + std::to_string(r.id) + ")"; }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The record a failed pre-warm leaves, so `kiln runs NAME` finds the init logs.
RunRecord FailedInitRecord(const FunctionVersion& v, const pool::Refusal& r, int64_t started_at) {
  RunRecord run;
  run.id = RandomUuid();
  run.function = v.function;
  run.version = v.version;
  run.trigger = "deploy";
  run.started_at = started_at;
  run.duration_ms = static_cast<double>(NowEpochMs() - started_at);
  run.init_ms = r.init_ms;
  run.cold = true;
  run.status = r.status;
  run.http_status = r.http_status;
  run.error_type = r.error_type;
  run.error_message = r.message;
  run.logs = r.logs;
  run.start = r.start;
  run.start_note = r.start_note;
  if (r.phases) {
    run.fork_ms = r.phases->fork_ms;
    run.sandbox_ms = r.phases->sandbox_ms;
  }
  return run;
}

}  // namespace

boost::asio::awaitable<std::variant<pool::PrewarmReport, pool::Refusal>> Deployer::Prewarm(const FunctionVersion& v,
                                                                                          std::string* run_id) {
  const int64_t started_at = NowEpochMs();
  auto warmed = co_await pool_->Prewarm(v);
  if (auto* refusal = std::get_if<pool::Refusal>(&warmed)) {
    RunRecord run = FailedInitRecord(v, *refusal, started_at);
    *run_id = run.id;
    recorder_->Emit(std::move(run));
  }
  co_return warmed;
}

boost::asio::awaitable<Result<std::variant<Deployed, DeployFailed>>> Deployer::Deploy(DeployRequest req) {
  const FunctionVersion* serving = catalog_->Find(req.version.function, std::nullopt);
  if (serving != nullptr && !req.force && SameDeployment(*serving, req.version)) {
    co_return Deployed{.version = *serving, .unchanged = true};
  }
  const std::optional<int64_t> serving_version = serving ? std::optional(serving->version) : std::nullopt;
  req.version.state = req.wait ? VersionState::kStarting : VersionState::kReady;
  Result<FunctionVersion> stored = catalog_->CreateVersion(std::move(req.version));
  if (!stored.ok()) co_return stored.status();
  if (!req.wait) co_return Deployed{.version = *stored};

  std::string run_id;
  auto warmed = co_await Prewarm(*stored, &run_id);
  if (auto* refusal = std::get_if<pool::Refusal>(&warmed)) {
    Status recorded = catalog_->SetVersionState(stored->function, stored->version, VersionState::kFailed,
                                                refusal->error_type + ": " + refusal->message);
    if (!recorded.ok()) co_return recorded;
    co_return DeployFailed{*stored, std::move(*refusal), serving_version, run_id};
  }
  if (Status st = catalog_->Publish(stored->function, stored->version); !st.ok()) co_return st;
  const FunctionVersion* published = catalog_->Find(stored->function, stored->version);
  co_return Deployed{.version = *published, .prewarm = std::get<pool::PrewarmReport>(warmed)};
}

boost::asio::awaitable<Result<std::variant<RolledBack, DeployFailed>>> Deployer::Rollback(
    const std::string& function, std::optional<int64_t> version) {
  const FunctionVersion* serving = catalog_->Find(function, std::nullopt);
  if (serving == nullptr) co_return NotServing(function);
  const int64_t from = serving->version;
  const FunctionVersion* target = nullptr;
  if (version) {
    target = catalog_->Find(function, *version);
    if (target == nullptr) co_return NotFound("no function " + Named(function, *version));
  } else {
    for (const FunctionVersion* v : catalog_->Versions(function)) {
      if (v->version < from && v->state == VersionState::kReady) target = v;
    }
    if (target == nullptr) co_return Conflict(function + " has no ready version before " + std::to_string(from));
  }
  if (target->version == from) co_return Conflict(Named(function, from) + " is the serving version already");
  if (target->state != VersionState::kReady) {
    std::string why = target->state == VersionState::kFailed ? "failed its deploy (" + target->state_message + ")"
                                                             : "is still starting";
    co_return Conflict("cannot roll back to " + Named(function, target->version) + ": it " + why);
  }
  const FunctionVersion wanted = *target;  // the catalog may change while we wait
  catalog_->Stage(function, wanted.version, true);
  std::string run_id;
  auto warmed = co_await Prewarm(wanted, &run_id);
  // Served before it is unstaged: never out of the aspired set, so never drained.
  Status served = std::holds_alternative<pool::PrewarmReport>(warmed)
                      ? catalog_->SetServing(function, wanted.version)
                      : OkStatus();
  catalog_->Stage(function, wanted.version, false);
  if (auto* refusal = std::get_if<pool::Refusal>(&warmed)) {
    co_return DeployFailed{wanted, std::move(*refusal), from, run_id};
  }
  if (!served.ok()) co_return served;
  co_return RolledBack{from, wanted, std::get<pool::PrewarmReport>(warmed)};
}

std::vector<std::string> Deployer::PipelinesUsing(const std::string& function,
                                                  std::optional<int64_t> version) const {
  std::vector<std::string> names;
  Result<std::vector<Pipeline>> pipelines = store_->ListPipelines();
  if (!pipelines.ok()) return names;
  for (const Pipeline& p : *pipelines) {
    for (const PipelineStep& step : p.steps) {
      if (step.function != function || (version && step.version != version)) continue;
      names.push_back(p.name);
      break;
    }
  }
  return names;
}

Result<Removed> Deployer::RemoveFunction(const std::string& function, bool force) {
  std::vector<const FunctionVersion*> versions = catalog_->Versions(function);
  if (versions.empty()) return NotFound("no function " + function);
  Removed removed;
  for (const Route& r : catalog_->Routes()) {
    if (r.function == function) removed.routes.push_back(r);
  }
  const std::vector<std::string> pipelines = PipelinesUsing(function, std::nullopt);
  if (!force && (!removed.routes.empty() || !pipelines.empty())) {
    std::vector<std::string> users;
    for (const Route& r : removed.routes) users.push_back("route " + RouteName(r));
    for (const std::string& p : pipelines) users.push_back("pipeline " + p);
    return Conflict(function + " is in use by " + Join(users) +
                    ": remove them first, or use --force to remove its routes with it");
  }
  for (const FunctionVersion* v : versions) removed.versions.push_back(v->version);
  KILN_RETURN_IF_ERROR(catalog_->RemoveFunction(function));
  return removed;
}

Status Deployer::RemoveVersion(const std::string& function, int64_t version) {
  const FunctionVersion* v = catalog_->Find(function, version);
  if (v == nullptr) return NotFound("no function " + Named(function, version));
  const FunctionVersion* serving = catalog_->Find(function, std::nullopt);
  if (serving != nullptr && serving->version == version) {
    return Conflict(Named(function, version) + " is the serving version: roll back or deploy another first, or "
                    "remove the function");
  }
  if (v->state == VersionState::kStarting) return Conflict(Named(function, version) + " is being deployed");
  std::vector<std::string> users;
  for (const Route& r : catalog_->Routes()) {
    if (r.function == function && r.version == version) users.push_back("route " + RouteName(r));
  }
  for (const std::string& p : PipelinesUsing(function, version)) users.push_back("pipeline " + p);
  if (!users.empty()) return Conflict(Named(function, version) + " is pinned by " + Join(users));
  return catalog_->RemoveVersion(function, version);
}

Result<Route> Deployer::Repoint(int64_t route_id, const std::string& function, std::optional<int64_t> version) {
  const FunctionVersion* target = catalog_->Find(function, version);
  if (target == nullptr) return version ? NotFound("no function " + Named(function, *version)) : NotServing(function);
  if (target->state != VersionState::kReady) {
    return Conflict(Named(function, target->version) + " is not ready (" + VersionStateName(target->state) + ")");
  }
  return catalog_->UpdateRoute(route_id, function, version);
}

Status Deployer::NotServing(const std::string& function) const {
  std::vector<const FunctionVersion*> versions = catalog_->Versions(function);
  if (versions.empty()) return NotFound("no function " + function);
  const FunctionVersion* newest = versions.back();
  std::string why = "v" + std::to_string(newest->version) + " " + VersionStateName(newest->state);
  if (!newest->state_message.empty()) why += ": " + newest->state_message;
  return Conflict(function + " has no ready version (" + why + ")");
}

}  // namespace kiln::control
