#include "daemon/front_door.h"

namespace kiln::daemon {
namespace {

constexpr size_t kControlBodyLimit = 8u << 20;

enum class Area { kHealth, kControl, kUser };

Area AreaOf(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") return Area::kHealth;
  if (path == "/v1" || path.rfind("/v1/", 0) == 0) return Area::kControl;
  return Area::kUser;
}

}  // namespace

size_t FrontDoor::BodyLimit(const gateway::RequestHeader& header) {
  std::string_view target(header.target().data(), header.target().size());
  switch (AreaOf(target)) {
    case Area::kHealth: return 0;
    case Area::kControl: {
      std::string_view path = target.substr(0, target.find('?'));
      if (path.rfind("/v1/blobs", 0) == 0) return max_upload_;
      if (path.rfind("/v1/layers/", 0) == 0 && path.ends_with("/archives")) return max_layer_upload_;
      return kControlBodyLimit;
    }
    case Area::kUser: return user_->max_body();
  }
  return 0;
}

boost::asio::awaitable<gateway::Response> FrontDoor::TooLarge(const gateway::RequestHeader& header,
                                                               const gateway::RequestInfo& info) {
  std::string_view target(header.target().data(), header.target().size());
  if (AreaOf(target) == Area::kUser) co_return user_->TooLarge(header, info);
  std::string_view path = target.substr(0, target.find('?'));
  std::string flag = path.rfind("/v1/blobs", 0) == 0 ? " (kiln serve --max-bundle-mb)"
                     : path.ends_with("/archives")   ? " (kiln serve --max-layer-mb)"
                                                     : "";
  co_return gateway::ErrorResponse(
      Status(Code::kPayloadTooLarge, "the body is over the limit of " + std::to_string(BodyLimit(header)) +
                                         " bytes" + flag),
      header.version(), false);
}

boost::asio::awaitable<gateway::Response> FrontDoor::Handle(gateway::Request req,
                                                            const gateway::RequestInfo& info) {
  switch (AreaOf(std::string_view(req.target().data(), req.target().size()))) {
    case Area::kHealth:
      co_return gateway::JsonResponse(200, R"({"status":"ok"})", req.version(), true);
    case Area::kControl:
      co_return co_await control_->Handle(std::move(req), info);
    case Area::kUser:
      co_return co_await user_->Handle(std::move(req), info);
  }
  co_return gateway::JsonResponse(500, "{}", req.version(), false);
}

}  // namespace kiln::daemon
