#include "secrets/secrets.h"

#include "common/secret_box.h"
#include "common/time_util.h"
#include "model/records.h"

namespace kiln::secrets {

std::optional<std::string> ReferencedSecret(const std::string& env_value) {
  if (!env_value.starts_with(kSecretReferencePrefix)) return std::nullopt;
  return env_value.substr(kSecretReferencePrefix.size());
}

Result<bool> Secrets::Set(const std::string& name, const std::string& value) {
  if (!ValidName(name)) return InvalidArgument("a secret name is 1 to 64 of [A-Za-z0-9_-], not '" + name + "'");
  if (value.size() > kMaxValueBytes) {
    return InvalidArgument("secret " + name + " is over the " + std::to_string(kMaxValueBytes >> 10) + " KiB a secret may hold");
  }
  if (value.find('\0') != std::string::npos) {
    return InvalidArgument("secret " + name + " holds a NUL byte, which no environment variable can carry");
  }
  KILN_ASSIGN_OR_RETURN(std::string sealed, Seal(node_key_, value, name));
  return store_->PutSecret({name, std::move(sealed), NowEpochMs()});
}

Result<std::vector<SealedSecret>> Secrets::List() { return store_->ListSecrets(); }

Status Secrets::Remove(const std::string& name) { return store_->DeleteSecret(name); }

Status Secrets::CheckReferences(const std::map<std::string, std::string>& env) {
  std::string missing;
  for (const auto& [key, value] : env) {
    auto name = ReferencedSecret(value);
    if (!name) continue;
    auto found = store_->GetSecret(*name);
    if (found.ok()) continue;
    if (found.status().code() != Code::kNotFound) return found.status();
    missing += (missing.empty() ? "" : ", ") + key + " refers to secret " + *name;
  }
  if (missing.empty()) return OkStatus();
  return NotFound("no such secret: " + missing + " (set it with kiln secret set NAME)");
}

Result<std::map<std::string, std::string>> Secrets::Resolve(const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> out = env;
  for (auto& [key, value] : out) {
    auto name = ReferencedSecret(value);
    if (!name) continue;
    auto found = store_->GetSecret(*name);
    if (!found.ok()) {
      if (found.status().code() != Code::kNotFound) return found.status();
      return NotFound("env " + key + " refers to secret " + *name + ", which does not exist (kiln secret set " +
                      *name + ")");
    }
    auto opened = Open(node_key_, found->sealed, *name);
    if (!opened.ok()) {
      return Internal("secret " + *name + " does not open with this node's secret.key: " + opened.status().message());
    }
    value = std::move(opened).value();
  }
  return out;
}

}  // namespace kiln::secrets
