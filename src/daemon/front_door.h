// DESIGN: the daemon's HttpHandler: sends /healthz, the control API (/v1/) and user
// routes (everything else) to their owners, and sets each one's body limit.
#pragma once

#include "control/control_api.h"
#include "gateway/http_server.h"
#include "gateway/user_gateway.h"

namespace kiln::daemon {

class FrontDoor final : public gateway::HttpHandler {
 public:
  // Uploads: bundles up to max_upload, layer archives up to max_layer_upload bytes.
  FrontDoor(control::ControlApi* control, gateway::UserGateway* user, size_t max_upload,
            size_t max_layer_upload)
      : control_(control), user_(user), max_upload_(max_upload), max_layer_upload_(max_layer_upload) {}

  size_t BodyLimit(const gateway::RequestHeader& header) override;
  boost::asio::awaitable<gateway::Response> TooLarge(const gateway::RequestHeader& header,
                                                     const gateway::RequestInfo& info) override;
  boost::asio::awaitable<gateway::Response> Handle(gateway::Request req,
                                                   const gateway::RequestInfo& info) override;

 private:
  control::ControlApi* control_;
  gateway::UserGateway* user_;
  size_t max_upload_;
  size_t max_layer_upload_;
};

}  // namespace kiln::daemon
