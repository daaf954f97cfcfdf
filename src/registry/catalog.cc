#include "registry/catalog.h"

#include "common/time_util.h"

namespace kiln {

Status Catalog::Load() {
  KILN_ASSIGN_OR_RETURN(auto latest, store_->ListLatestVersions());
  for (const auto& l : latest) {
    KILN_ASSIGN_OR_RETURN(auto all, store_->ListVersions(l.function));
    for (auto& v : all) functions_[v.function][v.version] = std::move(v);
  }
  KILN_ASSIGN_OR_RETURN(auto routes, store_->ListRoutes());
  for (auto& r : routes) routes_[r.path][r.method] = std::move(r);
  KILN_ASSIGN_OR_RETURN(auto keys, store_->ListKeys());
  for (auto& k : keys) keys_[k.id] = std::move(k);
  return OkStatus();
}

Result<FunctionVersion> Catalog::CreateVersion(FunctionVersion v) {
  KILN_ASSIGN_OR_RETURN(FunctionVersion stored, store_->CreateVersion(std::move(v)));
  functions_[stored.function][stored.version] = stored;
  return stored;
}

Status Catalog::SetVersionState(const std::string& function, int64_t version, VersionState state,
                                const std::string& message) {
  KILN_RETURN_IF_ERROR(store_->SetVersionState(function, version, state, message));
  FunctionVersion& v = functions_[function][version];
  v.state = state;
  v.state_message = message;
  return OkStatus();
}

const FunctionVersion* Catalog::Find(const std::string& function,
                                     std::optional<int64_t> version) const {
  auto f = functions_.find(function);
  if (f == functions_.end() || f->second.empty()) return nullptr;
  if (!version) {
    // Routes follow the newest version that finished its deploy.
    for (auto it = f->second.rbegin(); it != f->second.rend(); ++it) {
      if (it->second.state == VersionState::kReady) return &it->second;
    }
    return nullptr;
  }
  auto v = f->second.find(*version);
  return v == f->second.end() ? nullptr : &v->second;
}

std::vector<const FunctionVersion*> Catalog::Versions(const std::string& function) const {
  std::vector<const FunctionVersion*> out;
  if (auto f = functions_.find(function); f != functions_.end()) {
    for (const auto& [n, v] : f->second) out.push_back(&v);
  }
  return out;
}

std::vector<FunctionVersion> Catalog::AspiredVersions() const {
  std::map<std::pair<std::string, int64_t>, const FunctionVersion*> wanted;
  for (const auto& [name, versions] : functions_) {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (it->second.state == VersionState::kFailed) continue;
      wanted[{name, it->first}] = &it->second;
      if (it->second.state == VersionState::kReady) break;  // older ones are superseded
    }
  }
  for (const auto& [path, by_method] : routes_) {
    for (const auto& [method, r] : by_method) {
      if (!r.version) continue;
      if (const FunctionVersion* v = Find(r.function, r.version)) wanted[{r.function, *r.version}] = v;
    }
  }
  std::vector<FunctionVersion> out;
  for (const auto& [key, v] : wanted) out.push_back(*v);
  return out;
}

std::vector<std::string> Catalog::LayerUsers(const std::string& layer, int64_t version) const {
  std::vector<std::string> out;
  for (const auto& [name, versions] : functions_) {
    for (const auto& [n, v] : versions) {
      for (const LayerRef& ref : v.layers) {
        if (ref.name == layer && ref.version == version) out.push_back(name + ":" + std::to_string(n));
      }
    }
  }
  return out;
}

std::vector<std::string> Catalog::FunctionNames() const {
  std::vector<std::string> out;
  for (const auto& [name, versions] : functions_) out.push_back(name);
  return out;
}

Result<Route> Catalog::AddRoute(Route r) {
  KILN_ASSIGN_OR_RETURN(Route stored, store_->CreateRoute(std::move(r)));
  routes_[stored.path][stored.method] = stored;
  return stored;
}

Status Catalog::RemoveRoute(int64_t id) {
  KILN_RETURN_IF_ERROR(store_->DeleteRoute(id));
  for (auto p = routes_.begin(); p != routes_.end(); ++p) {
    for (auto m = p->second.begin(); m != p->second.end(); ++m) {
      if (m->second.id != id) continue;
      p->second.erase(m);
      if (p->second.empty()) routes_.erase(p);
      return OkStatus();
    }
  }
  return OkStatus();
}

std::vector<Route> Catalog::Routes() const {
  std::vector<Route> out;
  for (const auto& [path, methods] : routes_) {
    for (const auto& [method, r] : methods) out.push_back(r);
  }
  return out;
}

RouteMatch Catalog::Match(const std::string& method, const std::string& path) const {
  RouteMatch m;
  auto p = routes_.find(path);
  if (p == routes_.end()) return m;
  if (auto r = p->second.find(method); r != p->second.end()) {
    m.route = &r->second;
    return m;
  }
  for (const auto& [other, r] : p->second) m.other_methods.push_back(other);
  return m;
}

Result<auth::NewKey> Catalog::CreateKey(std::string name, auth::KeyScope scope) {
  auth::NewKey k = auth::GenerateKey(std::move(name), std::move(scope), NowEpochMs());
  KILN_RETURN_IF_ERROR(store_->CreateKey(k.record));
  keys_[k.record.id] = k.record;
  return k;
}

Status Catalog::RemoveKey(const std::string& id) {
  KILN_RETURN_IF_ERROR(store_->DeleteKey(id));
  keys_.erase(id);
  return OkStatus();
}

Result<auth::NewKey> Catalog::RotateKey(const std::string& id, int64_t grace_ms) {
  auto k = keys_.find(id);
  if (k == keys_.end()) return NotFound("no key with id " + id);
  ApiKeyRecord rotated = k->second;
  auth::IssuedSecret fresh = auth::IssueSecret(id);
  rotated.previous_sha256 = grace_ms > 0 ? rotated.secret_sha256 : "";
  rotated.previous_valid_until = grace_ms > 0 ? NowEpochMs() + grace_ms : 0;
  rotated.secret_sha256 = fresh.sha256;
  rotated.legacy = false;
  KILN_RETURN_IF_ERROR(store_->RotateKey(id, rotated.secret_sha256, rotated.previous_sha256,
                                         rotated.previous_valid_until));
  k->second = rotated;
  return auth::NewKey{std::move(rotated), std::move(fresh.plaintext)};
}

std::vector<ApiKeyRecord> Catalog::Keys() const {
  std::vector<ApiKeyRecord> out;
  for (const auto& [id, k] : keys_) out.push_back(k);
  return out;
}

const ApiKeyRecord* Catalog::Authenticate(std::string_view token, int64_t now_ms) {
  auto parts = auth::ParseKey(token);  // the checksum, before any lookup
  if (!parts) return nullptr;
  auto k = keys_.find(parts->id);
  ApiKeyRecord* record = k == keys_.end() ? nullptr : &k->second;
  if (!auth::KeyOpens(record, parts->secret, now_ms)) return nullptr;
  record->last_used_at = now_ms;
  unflushed_uses_[record->id] = now_ms;
  return record;
}

Status Catalog::FlushKeyUse() {
  if (unflushed_uses_.empty()) return OkStatus();
  KILN_RETURN_IF_ERROR(store_->RecordKeyUse({unflushed_uses_.begin(), unflushed_uses_.end()}));
  unflushed_uses_.clear();
  return OkStatus();
}

}  // namespace kiln
