// DESIGN: the registry's in-memory view of functions, routes and keys, over the
// store. Loaded once at start; every mutation goes to the store first and then to
// memory, so the view never shows what is not durable. Owned by the daemon's I/O
// thread: the request hot path reads it without a lock and without a query.
#pragma once

#include <map>
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

class Catalog {
 public:
  explicit Catalog(Store* store) : store_(store) {}

  Status Load();

  // Functions and versions.
  Result<FunctionVersion> CreateVersion(FunctionVersion v);
  // Publishes a version (ready) or records why its deploy failed.
  Status SetVersionState(const std::string& function, int64_t version, VersionState state,
                         const std::string& message);
  // The given version, or without one the newest ready version (what routes follow).
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
  std::vector<Route> Routes() const;
  RouteMatch Match(const std::string& method, const std::string& path) const;

  // Keys.
  Result<auth::NewKey> CreateKey(std::string name, std::vector<std::string> routes,
                                 std::vector<std::string> functions, bool admin);
  Status RemoveKey(const std::string& id);
  std::vector<ApiKeyRecord> Keys() const;
  // The key record behind a presented token, when the secret matches.
  const ApiKeyRecord* Authenticate(std::string_view token) const;

 private:
  Store* store_;
  std::map<std::string, std::map<int64_t, FunctionVersion>> functions_;
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route
  std::map<std::string, ApiKeyRecord> keys_;                     // by id
};

}  // namespace kiln
