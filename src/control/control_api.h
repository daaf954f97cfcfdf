// DESIGN: the control API under /v1/ (docs/API.md). Every endpoint needs the admin
// key. Handlers run on the I/O thread and use the I/O thread's store connection
// through the catalog; slow filesystem work (unpacking a bundle) runs on the blocking
// executor and resumes here. Errors leave as {"error":{"code","message"}} with the
// status of their code.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "dispatch/dispatcher.h"
#include "gateway/http_server.h"
#include "layers/layer_builder.h"
#include "registry/blob_store.h"
#include "registry/catalog.h"
#include "runs/run_recorder.h"

namespace kiln::control {

namespace asio = boost::asio;
using gateway::Request;
using gateway::Response;

struct ControlDeps {
  Catalog* catalog;
  Store* store;  // the I/O thread's connection
  BlobStore* blobs;
  layers::LayerBuilder* layers;
  runs::RunRecorder* recorder;
  dispatch::Dispatcher* dispatcher;
  asio::any_io_executor blocking;  // for filesystem-heavy work
};

class ControlApi {
 public:
  explicit ControlApi(ControlDeps deps) : d_(deps) {}

  asio::awaitable<Response> Handle(Request req, const gateway::RequestInfo& info);

 private:
  using Segments = std::vector<std::string>;
  asio::awaitable<Response> Route(Request& req, const Segments& seg);
  asio::awaitable<Response> PutBlob(Request& req);
  Result<nlohmann::json> CreateVersion(const std::string& name, const std::string& body);
  asio::awaitable<Response> Invoke(Request& req, const std::string& name);
  Result<nlohmann::json> GetFunction(const std::string& name);
  Result<nlohmann::json> ListFunctions();
  Result<nlohmann::json> CreateRoute(const std::string& body);
  Result<nlohmann::json> CreateKey(const std::string& body);
  Result<nlohmann::json> ListRuns(const Request& req);
  Result<nlohmann::json> StartLayerBuild(const std::string& name, const std::string& body);
  Result<nlohmann::json> ListLayers(const std::string& name);

  ControlDeps d_;
};

// Names of functions and layers: [A-Za-z0-9_-], 1 to 64 characters.
bool ValidName(const std::string& name);

}  // namespace kiln::control
