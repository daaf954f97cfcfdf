// DESIGN: the daemon's HttpHandler: sends /healthz, the control API (/v1/) and user
// routes (everything else) to their owners, and sets each one's body limit. On the
// header alone it admits or refuses a request through its owner (the control API's
// key check, the user gateway's route and key resolution), so a refused body is
// never read. Uploads (bundles to /v1/blobs, layer archives) are spooled to files
// under <data>/uploads, at most `max_uploads_per_key` at once per API key (429 with
// Retry-After beyond). On the I/O thread only.
#pragma once

#include "control/control_api.h"
#include "gateway/http_server.h"
#include "gateway/keyed_limiter.h"
#include "gateway/user_gateway.h"

namespace kiln::daemon {

struct UploadLimits {
  size_t max_bundle_bytes;  // an archive to /v1/blobs
  size_t max_layer_bytes;   // a layer archive
  std::string spool_dir;    // where upload bodies are written while they arrive
  size_t max_uploads_per_key = 2;
};

class FrontDoor final : public gateway::HttpHandler {
 public:
  FrontDoor(control::ControlApi* control, gateway::UserGateway* user, UploadLimits uploads)
      : control_(control), user_(user), uploads_(std::move(uploads)), upload_slots_(uploads_.max_uploads_per_key) {}

  gateway::Admission Admit(const gateway::RequestHeader& header, const gateway::RequestInfo& info) override;
  size_t BodyLimit(const gateway::RequestHeader& header) override;
  boost::asio::awaitable<gateway::Response> TooLarge(const gateway::RequestHeader& header,
                                                     const gateway::RequestInfo& info) override;
  boost::asio::awaitable<gateway::Response> Handle(gateway::Request req,
                                                   const gateway::RequestInfo& info) override;

 private:
  control::ControlApi* control_;
  gateway::UserGateway* user_;
  UploadLimits uploads_;
  gateway::KeyedLimiter upload_slots_;  // by API key id
};

// Removes what interrupted uploads left in the spool folder, and makes it.
Status PrepareSpool(const std::string& dir);

}  // namespace kiln::daemon
