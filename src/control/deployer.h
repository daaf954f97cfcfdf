// DESIGN: the workflows that change what a function serves (issue #15): deploy (record
// a version, pre-warm it, publish it), rollback (pre-warm an older ready version, then
// serve it), removal of a function or of one version, and repointing a route. The
// catalog holds the state (versions, each function's serving version, routes) and
// tells the pool what should be warm whenever it changes; the deployer only puts the
// steps in order, so the HTTP endpoints parse and answer, and nobody hands the pool a
// list by hand.
//
// Lifecycle of a version: starting (recorded, pre-warm under way) -> ready (may be
// served) or failed (its init failed; kept as history with a run record of trigger
// `deploy` that holds the init logs and the error). A function's serving version is
// always ready; it changes in one store write, and only to a version whose min_warm
// containers are warm, so routes that follow the function switch with no gap and no
// cold first request. A failed pre-warm leaves the serving version as it was.
//
// Threads: the daemon's I/O thread, like the catalog and the pool. Two workflows of the
// same function may interleave at their pre-warms; the one that finishes last decides
// what is served, as a second deploy would.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "model/records.h"
#include "pool/pool.h"
#include "registry/catalog.h"
#include "runs/run_recorder.h"
#include "store/store.h"

namespace kiln::control {

struct DeployRequest {
  FunctionVersion version;  // parsed and checked; env already resolved
  bool wait = true;         // pre-warm before serving (false: serve at once, cold)
  bool force = false;       // record a version even when nothing changed
};

struct Deployed {
  FunctionVersion version;  // as stored; when unchanged, the serving version
  bool unchanged = false;
  std::optional<pool::PrewarmReport> prewarm;
};

// The version's init failed during its pre-warm: it is recorded as failed, and the
// run record `run_id` (trigger deploy) has its logs.
struct DeployFailed {
  FunctionVersion version;
  pool::Refusal refusal;
  std::optional<int64_t> serving;  // what routes keep serving
  std::string run_id;
};

struct RolledBack {
  int64_t from = 0;
  FunctionVersion to;
  pool::PrewarmReport prewarm;
};

struct Removed {
  std::vector<Route> routes;        // removed with the function (--force)
  std::vector<int64_t> versions;
};

class Deployer {
 public:
  Deployer(Catalog* catalog, Store* store, pool::Pool* pool, runs::RunRecorder* recorder)
      : catalog_(catalog), store_(store), pool_(pool), recorder_(recorder) {}

  boost::asio::awaitable<Result<std::variant<Deployed, DeployFailed>>> Deploy(DeployRequest req);

  // Serves `version`, or without one the newest ready version before the serving one.
  // Conflict for a version that is not ready or already served; a failed pre-warm
  // comes back as DeployFailed and changes nothing.
  boost::asio::awaitable<Result<std::variant<RolledBack, DeployFailed>>> Rollback(const std::string& function,
                                                                                  std::optional<int64_t> version);

  // Conflict, naming them, while routes or pipelines point at the function, unless
  // `force`, which removes its routes too (pipelines are left; their runs then fail
  // naming the missing function). Its containers drain; its run records stay until
  // retention.
  Result<Removed> RemoveFunction(const std::string& function, bool force);
  // One version that nothing serves: not the serving one, not starting, not pinned by
  // a route or a pipeline step.
  Status RemoveVersion(const std::string& function, int64_t version);

  // Points a route at another function or version in one write.
  Result<Route> Repoint(int64_t route_id, const std::string& function, std::optional<int64_t> version);

  // Why `function` cannot be invoked: NotFound when it does not exist, else Conflict
  // naming its newest version's state ("iris has no ready version (v3 failed: ...)").
  Status NotServing(const std::string& function) const;

 private:
  // Pre-warms a version the catalog already wants warm; on an init failure, the run
  // record of trigger deploy.
  boost::asio::awaitable<std::variant<pool::PrewarmReport, pool::Refusal>> Prewarm(const FunctionVersion& v,
                                                                                  std::string* run_id);
  std::vector<std::string> PipelinesUsing(const std::string& function, std::optional<int64_t> version) const;

  Catalog* catalog_;
  Store* store_;
  pool::Pool* pool_;
  runs::RunRecorder* recorder_;
};

}  // namespace kiln::control
