#include "registry/catalog.h"

#include "common/time_util.h"

namespace kiln {

Status Catalog::Load() {
  KILN_ASSIGN_OR_RETURN(auto latest, store_->ListLatestVersions());
  for (const auto& l : latest) {
    KILN_ASSIGN_OR_RETURN(auto all, store_->ListVersions(l.function));
    for (auto& v : all) functions_[v.function][v.version] = std::move(v);
  }
  KILN_ASSIGN_OR_RETURN(serving_, store_->ListServing());
  KILN_ASSIGN_OR_RETURN(auto routes, store_->ListRoutes());
  for (auto& r : routes) routes_[r.path][r.method] = std::move(r);
  KILN_ASSIGN_OR_RETURN(auto keys, store_->ListKeys());
  for (auto& k : keys) keys_[k.id] = std::move(k);
  return OkStatus();
}

void Catalog::OnAspiredChange(AspiredListener listener) {
  aspired_listener_ = std::move(listener);
  AspiredChanged();
}

void Catalog::AspiredChanged() const {
  if (aspired_listener_) aspired_listener_(AspiredVersions());
}

Result<FunctionVersion> Catalog::CreateVersion(FunctionVersion v) {
  KILN_ASSIGN_OR_RETURN(FunctionVersion stored, store_->CreateVersion(std::move(v)));
  functions_[stored.function][stored.version] = stored;
  // A version created starting reaches the pool through its deploy's pre-warm, which
  // starts (and reports) its first containers itself; it is in every later list.
  if (stored.state == VersionState::kReady) {
    serving_[stored.function] = stored.version;
    AspiredChanged();
  }
  return stored;
}

Status Catalog::SetVersionState(const std::string& function, int64_t version, VersionState state,
                                const std::string& message) {
  KILN_RETURN_IF_ERROR(store_->SetVersionState(function, version, state, message));
  FunctionVersion& v = functions_[function][version];
  v.state = state;
  v.state_message = message;
  AspiredChanged();
  return OkStatus();
}

Status Catalog::Publish(const std::string& function, int64_t version) {
  KILN_RETURN_IF_ERROR(store_->PublishVersion(function, version));
  FunctionVersion& v = functions_[function][version];
  v.state = VersionState::kReady;
  v.state_message.clear();
  serving_[function] = version;
  AspiredChanged();
  return OkStatus();
}

Status Catalog::SetServing(const std::string& function, int64_t version) {
  KILN_RETURN_IF_ERROR(store_->SetServing(function, version));
  serving_[function] = version;
  AspiredChanged();
  return OkStatus();
}

void Catalog::Stage(const std::string& function, int64_t version, bool staged) {
  if (staged) {
    staged_.insert({function, version});
  } else {
    staged_.erase({function, version});
  }
  AspiredChanged();
}

Status Catalog::RemoveFunction(const std::string& function) {
  KILN_RETURN_IF_ERROR(store_->DeleteFunction(function));
  functions_.erase(function);
  serving_.erase(function);
  for (auto p = routes_.begin(); p != routes_.end();) {
    std::erase_if(p->second, [&](const auto& entry) { return entry.second.function == function; });
    p = p->second.empty() ? routes_.erase(p) : std::next(p);
  }
  AspiredChanged();
  return OkStatus();
}

Status Catalog::RemoveVersion(const std::string& function, int64_t version) {
  KILN_RETURN_IF_ERROR(store_->DeleteVersion(function, version));
  auto f = functions_.find(function);
  if (f != functions_.end()) {
    f->second.erase(version);
    if (f->second.empty()) functions_.erase(f);
  }
  AspiredChanged();
  return OkStatus();
}

const FunctionVersion* Catalog::Find(const std::string& function,
                                     std::optional<int64_t> version) const {
  auto f = functions_.find(function);
  if (f == functions_.end() || f->second.empty()) return nullptr;
  if (!version) {
    auto s = serving_.find(function);
    if (s == serving_.end()) return nullptr;
    version = s->second;
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
  auto want = [&](const std::string& function, int64_t version) {
    if (const FunctionVersion* v = Find(function, version)) wanted[{function, version}] = v;
  };
  for (const auto& [name, version] : serving_) want(name, version);
  for (const auto& [name, versions] : functions_) {
    for (const auto& [n, v] : versions) {
      if (v.state == VersionState::kStarting) want(name, n);  // its deploy's pre-warm
    }
  }
  for (const auto& [name, version] : staged_) want(name, version);
  for (const auto& [path, by_method] : routes_) {
    for (const auto& [method, r] : by_method) {
      if (r.version) want(r.function, *r.version);
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
  AspiredChanged();  // a pinned version stays warm
  return stored;
}

Route* Catalog::FindRoute(int64_t id) {
  for (auto& [path, methods] : routes_) {
    for (auto& [method, r] : methods) {
      if (r.id == id) return &r;
    }
  }
  return nullptr;
}

Status Catalog::RemoveRoute(int64_t id) {
  KILN_RETURN_IF_ERROR(store_->DeleteRoute(id));
  if (Route* r = FindRoute(id)) {
    auto p = routes_.find(r->path);
    p->second.erase(r->method);
    if (p->second.empty()) routes_.erase(p);
  }
  AspiredChanged();
  return OkStatus();
}

Result<Route> Catalog::UpdateRoute(int64_t id, const std::string& function, std::optional<int64_t> version) {
  Route* r = FindRoute(id);
  if (r == nullptr) return NotFound("no route with id " + std::to_string(id));
  KILN_RETURN_IF_ERROR(store_->UpdateRoute(id, function, version));
  r->function = function;
  r->version = version;
  Route updated = *r;
  AspiredChanged();
  return updated;
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
