#include "daemon/front_door.h"

#include <filesystem>

#include "auth/api_key.h"
#include "gateway/credentials.h"

namespace kiln::daemon {
namespace {

constexpr size_t kControlBodyLimit = 8u << 20;

enum class Area { kHealth, kControl, kUser };

std::string_view PathOf(const gateway::RequestHeader& header) {
  std::string_view target(header.target().data(), header.target().size());
  return target.substr(0, target.find('?'));
}

Area AreaOf(std::string_view path) {
  if (path == "/healthz") return Area::kHealth;
  if (path == "/v1" || path.rfind("/v1/", 0) == 0 || path == "/metrics") return Area::kControl;
  return Area::kUser;
}

bool IsBundleUpload(std::string_view path) { return path.rfind("/v1/blobs", 0) == 0; }
bool IsLayerUpload(std::string_view path) { return path.rfind("/v1/layers/", 0) == 0 && path.ends_with("/archives"); }

}  // namespace

Status PrepareSpool(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("mkdir " + dir + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  return OkStatus();
}

gateway::Admission FrontDoor::Admit(const gateway::RequestHeader& header, const gateway::RequestInfo& info) {
  gateway::Admission admission;
  const std::string_view path = PathOf(header);
  switch (AreaOf(path)) {
    case Area::kHealth: return admission;
    case Area::kUser: admission.refusal = user_->Admit(header, info, &admission.admitted); return admission;
    case Area::kControl: break;
  }
  admission.refusal = control_->Admit(header, info, &admission.admitted);
  if (!admission.refusal && control::ControlApi::AsksToFollowLogs(header)) {
    auto stream = control_->FollowLogs(header);
    if (stream.ok()) {
      admission.stream = std::move(stream).value();
    } else {
      admission.refusal = gateway::ErrorResponse(stream.status(), header.version(), true);
    }
    return admission;
  }
  if (admission.refusal || header.method() != gateway::http::verb::post ||
      !(IsBundleUpload(path) || IsLayerUpload(path))) {
    return admission;
  }
  auto key = auth::ParseKey(gateway::PresentedKey(header));
  admission.hold = upload_slots_.TryAcquire(key ? key->id : "");
  if (!admission.hold) {
    gateway::Response res = gateway::ErrorResponse(
        Status(Code::kResourceExhausted, "this key has " + std::to_string(upload_slots_.cap()) +
                                             " uploads in progress already (kiln serve --max-uploads-per-key)"),
        header.version(), true);
    res.set(gateway::http::field::retry_after, "1");
    admission.refusal = std::move(res);
    return admission;
  }
  admission.spool_dir = uploads_.spool_dir;
  return admission;
}

size_t FrontDoor::BodyLimit(const gateway::RequestHeader& header) {
  const std::string_view path = PathOf(header);
  switch (AreaOf(path)) {
    case Area::kHealth: return 0;
    case Area::kControl:
      if (IsBundleUpload(path)) return uploads_.max_bundle_bytes;
      if (IsLayerUpload(path)) return uploads_.max_layer_bytes;
      return kControlBodyLimit;
    case Area::kUser: return user_->max_body();
  }
  return 0;
}

boost::asio::awaitable<gateway::Response> FrontDoor::TooLarge(const gateway::RequestHeader& header,
                                                               const gateway::RequestInfo& info) {
  const std::string_view path = PathOf(header);
  if (AreaOf(path) == Area::kUser) co_return user_->TooLarge(header, info);
  std::string flag = IsBundleUpload(path)  ? " (kiln serve --max-bundle-mb)"
                     : IsLayerUpload(path) ? " (kiln serve --max-layer-mb)"
                                           : "";
  co_return gateway::ErrorResponse(
      Status(Code::kPayloadTooLarge, "the body is over the limit of " + std::to_string(BodyLimit(header)) +
                                         " bytes" + flag),
      header.version(), false);
}

boost::asio::awaitable<gateway::Response> FrontDoor::Handle(gateway::Request req,
                                                            const gateway::RequestInfo& info) {
  switch (AreaOf(PathOf(req.base()))) {
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
