// DESIGN: the registry's in-memory view of functions, routes and keys, over the
// store. Loaded once at start; every mutation goes to the store first and then to
// memory, so the view never shows what is not durable.
//
// Each function has a serving version (issue #15): the one routes that follow the
// function get. It is always a ready version; it moves when a deploy publishes, or
// by a rollback. What should be warm follows from the catalog alone (AspiredVersions):
// each serving version, versions being deployed or staged for a rollback, and pinned
// versions. Every change to that set is handed to the aspired-versions listener (the
// pool), so no caller pushes it by hand. Owned by the daemon's I/O
// thread: the request hot path reads it without a lock and without a query. The one
// exception is a key's last use: noted in memory by Authenticate and written by
// FlushKeyUse (the daemon calls it every few seconds and at shutdown), so no request
// waits on a write.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "auth/api_key.h"
#include "common/status.h"
#include "model/records.h"
#include "store/store.h"

namespace kiln {

struct RouteMatch {
  const Route* route = nullptr;           // exact method + path
  std::vector<std::string> other_methods;  // the path exists with these methods
};

using AspiredListener = std::function<void(const std::vector<FunctionVersion>&)>;

class Catalog {
 public:
  explicit Catalog(Store* store) : store_(store) {}

  Status Load();
  // Told the aspired versions now, and again after every change to them.
  void OnAspiredChange(AspiredListener listener);

  // Functions and versions.
  Result<FunctionVersion> CreateVersion(FunctionVersion v);
  // Records why a version's deploy failed (kFailed), or another state.
  Status SetVersionState(const std::string& function, int64_t version, VersionState state,
                         const std::string& message);
  // A deploy's version is ready, and serving from now on.
  Status Publish(const std::string& function, int64_t version);
  // Serving moves to another ready version (a rollback).
  Status SetServing(const std::string& function, int64_t version);
  // A version being pre-warmed for a rollback is wanted warm while `staged`.
  void Stage(const std::string& function, int64_t version, bool staged);
  // Removes every version of the function and its routes.
  Status RemoveFunction(const std::string& function);
  Status RemoveVersion(const std::string& function, int64_t version);
  // The given version, or without one the serving version (what routes follow).
  const FunctionVersion* Find(const std::string& function, std::optional<int64_t> version) const;
  std::vector<const FunctionVersion*> Versions(const std::string& function) const;
  // The versions that should be kept warm: each function's current version (and a
  // newer one being deployed), and every version a route pins.
  std::vector<FunctionVersion> AspiredVersions() const;
  // "function:version" of every version that attaches layer name:version.
  std::vector<std::string> LayerUsers(const std::string& layer, int64_t version) const;
  std::vector<std::string> FunctionNames() const;

  // Routes.
  Result<Route> AddRoute(Route r);
  Status RemoveRoute(int64_t id);
  // Points the route at another target, in one write.
  Result<Route> UpdateRoute(int64_t id, const std::string& function, std::optional<int64_t> version);
  std::vector<Route> Routes() const;
  RouteMatch Match(const std::string& method, const std::string& path) const;

  // Keys.
  Result<auth::NewKey> CreateKey(std::string name, auth::KeyScope scope);
  Status RemoveKey(const std::string& id);
  // A new secret for the same id (kiln_<id>_...); the old one opens the key for
  // `grace_ms` more (0: not at all). Returns the new plaintext key and record.
  Result<auth::NewKey> RotateKey(const std::string& id, int64_t grace_ms);
  std::vector<ApiKeyRecord> Keys() const;
  // The key record behind a presented token at `now_ms`, when the token is well formed
  // (checksum first), the secret matches and the key has not expired. The same work
  // for every refusal (auth::KeyOpens). Notes the use in memory.
  const ApiKeyRecord* Authenticate(std::string_view token, int64_t now_ms);
  // Writes the last uses noted since the previous flush, in one transaction.
  Status FlushKeyUse();

 private:
  void AspiredChanged() const;
  Route* FindRoute(int64_t id);

  Store* store_;
  AspiredListener aspired_listener_;
  std::map<std::string, std::map<int64_t, FunctionVersion>> functions_;
  std::map<std::string, int64_t> serving_;                       // function -> its serving version
  std::set<std::pair<std::string, int64_t>> staged_;             // rollbacks being pre-warmed
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route
  std::map<std::string, ApiKeyRecord> keys_;                     // by id
  std::map<std::string, int64_t> unflushed_uses_;                // id -> epoch ms, since FlushKeyUse
};

}  // namespace kiln
