// The control API's layers: builds (pip, on the builder's thread), pushes of
// Lambda-layout archives (unpacked on the blocking pool, published here), listing,
// and removal, refused while any function version uses the layer.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "control/control_api.h"

namespace kiln::control {
namespace {

using nlohmann::json;

Status CheckLayerName(const std::string& name) {
  if (!ValidName(name)) return InvalidArgument("layer name '" + name + "': use 1-64 of [A-Za-z0-9_-]");
  return OkStatus();
}

Response RemoveLayerError(const Status& st) { return gateway::ErrorResponse(st, 11, true); }

}  // namespace

Result<json> ControlApi::StartLayerBuild(const std::string& name, const std::string& body) {
  KILN_RETURN_IF_ERROR(CheckLayerName(name));
  KILN_ASSIGN_OR_RETURN(json j, ParseObject(body));
  std::string requirements = j.value("requirements", "");
  if (requirements.find_first_not_of(" \t\r\n") == std::string::npos) {
    return InvalidArgument("requirements are empty");
  }
  std::string wheelhouse = j.value("wheelhouse", "");
  if (!wheelhouse.empty() && (wheelhouse[0] != '/' || !std::filesystem::is_directory(wheelhouse))) {
    return InvalidArgument("wheelhouse '" + wheelhouse + "' is not an absolute path to a folder on the daemon's machine");
  }
  return json{{"build_id", d_.layers->Start(name, requirements, wheelhouse)}};
}

Result<json> ControlApi::ListLayers(const std::string& name) {
  KILN_ASSIGN_OR_RETURN(auto versions, d_.store->ListLayerVersions(name));
  if (!name.empty()) {
    if (versions.empty()) return NotFound("no layer " + name);
    return json{{"name", name}, {"versions", versions}};
  }
  return json{{"layers", versions}};
}

asio::awaitable<Response> ControlApi::PushLayer(const std::string& archive_path, const std::string& name) {
  if (Status st = CheckLayerName(name); !st.ok()) co_return gateway::ErrorResponse(st, 11, true);
  layers::LayerBuilder* builder = d_.layers;
  // (optional<>: asio 1.74 wants a default-constructible result.)
  std::optional<Result<layers::StagedLayer>> staged = co_await asio::co_spawn(
      d_.blocking,
      [builder, &name, &archive_path]() -> asio::awaitable<std::optional<Result<layers::StagedLayer>>> {
        co_return builder->StagePush(name, archive_path);
      },
      asio::use_awaitable);
  if (!staged->ok()) co_return gateway::ErrorResponse(staged->status(), 11, true);
  auto published = builder->Publish(std::move(*staged).value());
  if (!published.ok()) co_return gateway::ErrorResponse(published.status(), 11, true);
  co_return Json(published->fresh ? 201 : 200, published->layer);
}

Response ControlApi::RemoveLayer(const std::string& name, std::optional<int64_t> version) {
  auto versions = d_.store->ListLayerVersions(name);
  if (!versions.ok()) return RemoveLayerError(versions.status());
  std::vector<int64_t> doomed;
  for (const auto& l : *versions) {
    if (!version || l.version == *version) doomed.push_back(l.version);
  }
  if (doomed.empty()) {
    return RemoveLayerError(NotFound("no layer " + name + (version ? ":" + std::to_string(*version) : "")));
  }
  for (int64_t v : doomed) {
    std::vector<std::string> users = d_.catalog->LayerUsers(name, v);
    if (users.empty()) continue;
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
    return RemoveLayerError(Conflict("layer " + name + ":" + std::to_string(v) + " is used by " + list));
  }
  for (int64_t v : doomed) {
    if (Status st = d_.layers->Remove(name, v); !st.ok()) return RemoveLayerError(st);
  }
  Response res{boost::beast::http::status::no_content, 11};
  res.keep_alive(true);
  return res;
}

}  // namespace kiln::control
