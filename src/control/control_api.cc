#include "control/control_api.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/time_util.h"
#include "control/access_table.h"
#include "control/openapi.h"  // generated: kOpenApiDocument
#include "gateway/credentials.h"
#include "gateway/http_event.h"

namespace kiln::control {
namespace {

using nlohmann::json;
namespace http = boost::beast::http;

std::string_view Sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool IsRead(http::verb m) { return m == http::verb::get || m == http::verb::head; }

}  // namespace

Result<json> ParseObject(const std::string& body) {
  json j = json::parse(body.empty() ? "{}" : body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("the body must be a JSON object");
  return j;
}

Response Json(unsigned status, const json& body) {
  return gateway::JsonResponse(status, body.dump(-1, ' ', false, json::error_handler_t::replace), 11, true);
}

Response FromResult(unsigned ok_status, const Result<json>& r) {
  if (!r.ok()) return gateway::ErrorResponse(r.status(), 11, true);
  return Json(ok_status, *r);
}

std::string QueryParam(std::string_view target, const std::string& key) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return "";
}

Response NoContent() {
  Response res{http::status::no_content, 11};
  res.keep_alive(true);
  return res;
}

Result<std::vector<std::string>> StringList(const json& j, const char* field) {
  std::vector<std::string> out;
  if (!j.contains(field) || j[field].is_null()) return out;
  if (!j[field].is_array()) return InvalidArgument(std::string(field) + " must be a list of strings");
  for (const auto& v : j[field]) {
    if (!v.is_string()) return InvalidArgument(std::string(field) + " must be a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

namespace {

bool ReservedPath(const std::string& path) {
  for (const char* p : {"/v1/", "/ui/"}) {
    if (path.rfind(p, 0) == 0) return true;
  }
  return path == "/v1" || path == "/ui" || path == "/metrics" || path == "/healthz";
}

}  // namespace

ControlApi::Access ControlApi::Check(const gateway::RequestHeader& h, const gateway::RequestInfo& info) {
  Access a;
  const Segments seg = PathSegments(Sv(h.target()));
  const ControlRole least = LeastRole(h.method(), seg);
  if (least == ControlRole::kNone) return a;
  const bool metrics = seg == Segments{"metrics"} && h.method() == http::verb::get;
  if (metrics && d_.metrics_public) return a;
  auto refuse = [&](Status st) {
    a.refusal = gateway::ErrorResponse(st, h.version(), true);
    return a;
  };
  std::string_view presented = gateway::PresentedKey(h);
  if (presented.empty()) return refuse(Status(Code::kUnauthenticated, "this endpoint needs an API key"));
  if (auto wait = d_.failures->RetryAfter(info.remote_ip)) {
    a.refusal = gateway::TooManyFailures(*wait, h.version());
    return a;
  }
  a.key = d_.catalog->Authenticate(presented, NowEpochMs());
  if (a.key == nullptr) {
    d_.failures->Failed(info.remote_ip);
    return refuse(Status(Code::kUnauthenticated, "the API key is not valid"));
  }
  if (metrics && a.key->metrics) return a;
  if (a.key->role == ControlRole::kNone) {
    return refuse(Status(Code::kPermissionDenied, metrics ? "this key may not read /metrics: create one with --metrics"
                                                          : "this key has no control role"));
  }
  if (!auth::RoleAtLeast(a.key->role, least)) {
    return refuse(Status(Code::kPermissionDenied, std::string("the ") + ControlRoleName(a.key->role) +
                                                      " role may not " + std::string(h.method_string()) + " " +
                                                      std::string(Sv(h.target()).substr(0, Sv(h.target()).find('?'))) +
                                                      " (it needs " + ControlRoleName(least) + ")"));
  }
  return a;
}

std::optional<Response> ControlApi::Admit(const gateway::RequestHeader& header, const gateway::RequestInfo& info,
                                          std::any* admitted) {
  Access access = Check(header, info);
  if (access.refusal) {
    // A known key refused for its role is an attempted change: audited like one.
    if (access.key != nullptr && !IsRead(header.method())) {
      Audit(header, info, *access.key, PathSegments(Sv(header.target())), *access.refusal);
    }
    return std::move(access.refusal);
  }
  // A copy: the key may be revoked while the body is read; this request was let in.
  *admitted = Caller{access.key != nullptr ? std::optional<ApiKeyRecord>(*access.key) : std::nullopt};
  return std::nullopt;
}

asio::awaitable<Response> ControlApi::Handle(Request req, const gateway::RequestInfo& info) {
  // Admit decided the key and its role on the header; they are not checked twice.
  const Caller* caller = std::any_cast<Caller>(&info.admitted);
  KILN_CHECK(caller != nullptr);
  Segments seg = PathSegments(Sv(req.target()));
  Response res;
  if (seg.size() == 2 && seg[1] == "openapi.json" && req.method() == http::verb::get) {
    res = gateway::JsonResponse(200, kOpenApiDocument, req.version(), true);
  } else if (seg == Segments{"metrics"} && req.method() == http::verb::get) {
    res = Metrics(req.version());
  } else {
    // A read sees every run emitted before it (a listing right after a run shows it):
    // awaited, so the I/O thread serves on while the writer commits.
    if (req.method() == http::verb::get) co_await d_.recorder->Flush();
    res = co_await Route(req, info, seg);
  }
  if (caller->key && !IsRead(req.method())) Audit(req.base(), info, *caller->key, seg, res);
  co_return res;
}

void ControlApi::Audit(const gateway::RequestHeader& req, const gateway::RequestInfo& info, const ApiKeyRecord& key,
                       const Segments& seg, const Response& res) {
  AuditEntry e{.at = NowEpochMs(),
               .key_id = key.id,
               .role = key.role,
               .source = info.remote_ip,
               .method = std::string(req.method_string()),
               .path = std::string(Sv(req.target()).substr(0, Sv(req.target()).find('?'))),
               .status = static_cast<int>(res.result_int())};
  // The target: the path's name or id, else (a create) the name or id the answer gives.
  // Only those fields are read: a new key's answer carries its secret.
  if (seg.size() >= 3) {
    e.target = seg[2];
  } else if (res.result_int() / 100 == 2) {
    json j = json::parse(res.body(), nullptr, false);
    for (const char* field : {"id", "name", "digest"}) {
      if (j.is_object() && j.contains(field) && (j[field].is_string() || j[field].is_number())) {
        e.target = j[field].is_string() ? j[field].get<std::string>() : j[field].dump();
        break;
      }
    }
  }
  e.target = e.target.substr(0, 200);
  if (Status st = d_.audit->AppendAudit(e); !st.ok()) {
    spdlog::error("audit log: {} {} by key {}: {}", e.method, e.path, e.key_id, st.message());
  }
}

asio::awaitable<Response> ControlApi::Route(Request& req, const gateway::RequestInfo& info, const Segments& seg) {
  const http::verb m = req.method();
  const size_t n = seg.size();
  auto is = [&](size_t i, const char* s) { return n > i && seg[i] == s; };
  const std::string& body = req.body();

  if (n == 2 && is(1, "blobs") && m == http::verb::post) co_return co_await PutBlob(info.body_file);
  if (is(1, "functions")) {
    if (n == 2 && m == http::verb::get) co_return FromResult(200, ListFunctions());
    if (n == 3 && m == http::verb::get) co_return FromResult(200, GetFunction(seg[2]));
    if (n == 4 && is(3, "versions") && m == http::verb::post) co_return co_await CreateVersion(seg[2], body);
    if (n == 4 && is(3, "versions") && m == http::verb::get) co_return FromResult(200, GetFunction(seg[2]));
    if (n == 4 && is(3, "invocations") && m == http::verb::post) co_return co_await Invoke(req, seg[2]);
    if (n == 4 && is(3, "stats") && m == http::verb::get) co_return FromResult(200, GetStats(seg[2], req));
    if (n == 4 && is(3, "rollback") && m == http::verb::post) co_return co_await Rollback(seg[2], body);
    if (n == 3 && m == http::verb::delete_) co_return RemoveFunction(seg[2], req);
    if (n == 5 && is(3, "versions") && m == http::verb::delete_) co_return RemoveVersion(seg[2], seg[4]);
  }
  if (is(1, "routes")) {
    if (n == 2 && m == http::verb::post) co_return FromResult(201, CreateRoute(body));
    if (n == 2 && m == http::verb::get) co_return Json(200, {{"routes", d_.catalog->Routes()}});
    if (n == 3 && m == http::verb::delete_) {
      int64_t id = std::atoll(seg[2].c_str());
      Status st = id > 0 ? d_.catalog->RemoveRoute(id) : NotFound("no route with id " + seg[2]);
      co_return st.ok() ? NoContent() : gateway::ErrorResponse(st, 11, true);
    }
    if (n == 3 && m == http::verb::put) co_return FromResult(200, SetRoute(seg[2], body));
  }
  if (is(1, "secrets")) co_return SecretEndpoint(m, seg, body);
  if (n == 2 && is(1, "containers") && m == http::verb::get) co_return FromResult(200, ListContainers(req));
  if (n == 3 && is(1, "containers") && m == http::verb::delete_) {
    Status st = d_.pool->Stop(seg[2]);
    co_return st.ok() ? NoContent() : gateway::ErrorResponse(st, 11, true);
  }
  if (n == 2 && is(1, "zygotes") && m == http::verb::get) co_return Json(200, ListForkSources());
  if (n == 2 && is(1, "doctor") && m == http::verb::get) co_return Json(200, Doctor());
  if (is(1, "keys")) {
    if (n == 2 && m == http::verb::post) co_return FromResult(201, CreateKey(body));
    if (n == 2 && m == http::verb::get) co_return Json(200, {{"keys", d_.catalog->Keys()}});
    if (n == 3 && m == http::verb::delete_) {
      Status st = d_.catalog->RemoveKey(seg[2]);
      co_return st.ok() ? NoContent() : gateway::ErrorResponse(st, 11, true);
    }
    if (n == 4 && is(3, "rotate") && m == http::verb::post) co_return FromResult(200, RotateKey(seg[2], body));
  }
  if (n == 2 && is(1, "audit") && m == http::verb::get) co_return FromResult(200, ListAudit(req));
  if (n == 2 && is(1, "logs") && m == http::verb::get) co_return FromResult(200, ListLogs(req));
  if (is(1, "runs") && m == http::verb::get) {
    if (n == 2) co_return FromResult(200, ListRuns(req));
    if (n == 3) co_return FromResult(200, GetRun(seg[2]));
  }
  if (is(1, "layers")) {
    if (n == 2 && m == http::verb::get) co_return FromResult(200, ListLayers(""));
    if (n == 3 && m == http::verb::get) co_return FromResult(200, ListLayers(seg[2]));
    if (n == 4 && is(3, "builds") && m == http::verb::post) co_return FromResult(202, StartLayerBuild(seg[2], body));
    if (n == 4 && is(3, "archives") && m == http::verb::post) co_return co_await PushLayer(info.body_file, seg[2]);
    if (n == 3 && m == http::verb::delete_) co_return RemoveLayer(seg[2], std::nullopt);
    if (n == 5 && is(3, "versions") && m == http::verb::delete_) {
      int64_t v = std::atoll(seg[4].c_str());
      if (v <= 0) co_return gateway::ErrorResponse(NotFound("no layer " + seg[2] + ":" + seg[4]), 11, true);
      co_return RemoveLayer(seg[2], v);
    }
  }
  if (is(1, "pipelines")) {
    if (n == 2 && m == http::verb::get) co_return FromResult(200, ListPipelines());
    if (n == 3 && m == http::verb::put) {
      bool created = false;
      auto p = PutPipeline(seg[2], body, &created);
      co_return FromResult(created ? 201 : 200, p);
    }
    if (n == 3 && m == http::verb::get) co_return FromResult(200, GetPipeline(seg[2]));
    if (n == 3 && m == http::verb::delete_) {
      Status st = d_.store->DeletePipeline(seg[2]);
      co_return st.ok() ? NoContent() : gateway::ErrorResponse(st, 11, true);
    }
    if (n == 4 && is(3, "runs") && m == http::verb::post) co_return co_await StartPipelineRun(req, seg[2]);
    if (n == 4 && is(3, "runs") && m == http::verb::get) co_return FromResult(200, ListPipelineRuns(seg[2], req));
  }
  if (n == 3 && is(1, "pipeline-runs") && m == http::verb::get) co_return FromResult(200, GetPipelineRun(seg[2]));
  if (n == 3 && is(1, "layer-builds") && m == http::verb::get) {
    auto b = d_.layers->Describe(seg[2]);
    co_return b ? Json(200, *b) : gateway::ErrorResponse(NotFound("no layer build " + seg[2]), 11, true);
  }
  co_return gateway::ErrorResponse(NotFound("no control endpoint " + std::string(req.method_string()) +
                                            " " + std::string(req.target())),
                                   11, true);
}

nlohmann::json ControlApi::Doctor() const {
  json pieces = json::array();
  for (const sandbox::Piece& p : d_.sandbox->report()) {
    pieces.push_back({{"name", p.name}, {"active", p.active}, {"detail", p.detail}});
  }
  return {{"sandbox", pieces}};
}

asio::awaitable<Response> ControlApi::PutBlob(const std::string& archive_path) {
  BlobStore* blobs = d_.blobs;
  // Hashing and unpacking are filesystem-heavy: off the I/O thread, then back.
  // (optional<>: asio 1.74 wants a default-constructible result.)
  std::optional<Result<BlobInfo>> put = co_await asio::co_spawn(
      d_.blocking,
      [blobs, &archive_path]() -> asio::awaitable<std::optional<Result<BlobInfo>>> {
        co_return blobs->PutFile(archive_path);
      },
      asio::use_awaitable);
  const Result<BlobInfo>& info = *put;
  if (!info.ok()) co_return gateway::ErrorResponse(info.status(), 11, true);
  co_return Json(201, {{"digest", info->digest}, {"size", info->size}, {"files", info->files}});
}

asio::awaitable<Response> ControlApi::Invoke(Request& req, const std::string& name) {
  std::optional<int64_t> version;
  if (auto h = req.find("X-Kiln-Version"); h != req.end()) version = std::atoll(std::string(h->value()).c_str());
  const FunctionVersion* fv = d_.catalog->Find(name, version);
  if (fv == nullptr) {
    Status why = version ? NotFound("no function " + name + ":" + std::to_string(*version)) : d_.deployer->NotServing(name);
    co_return gateway::ErrorResponse(why, 11, true);
  }
  std::string event = req.body().empty() ? "null" : req.body();
  if (!json::accept(event)) co_return gateway::ErrorResponse(InvalidArgument("the event must be JSON"), 11, true);
  if (gateway::AsksForAsync(req.base())) {
    std::string key;
    if (auto h = req.find("Idempotency-Key"); h != req.end()) key = std::string(h->value());
    const int64_t bytes = static_cast<int64_t>(req.body().size());
    // Named, not a braced temporary in the co_await: GCC 12 destroys such a temporary
    // argument of a coroutine twice.
    runs::AsyncRequest request{*fv, std::move(event), "async", "", std::move(key), bytes};
    Result<Enqueued> queued = co_await d_.async->Enqueue(std::move(request));
    co_return gateway::RenderAccepted(queued, req.version());
  }
  dispatch::InvocationRequest ir{*fv, std::move(event), RandomUuid(), "cli", "",
                                 static_cast<int64_t>(req.body().size())};
  dispatch::Invocation inv = co_await d_.dispatcher->Invoke(std::move(ir));
  co_return gateway::RenderInvocation(inv, req.version());
}

Result<json> ControlApi::CreateRoute(const std::string& body) {
  KILN_ASSIGN_OR_RETURN(json j, ParseObject(body));
  kiln::Route r;
  std::string auth, mode, errors;
  try {
    r.method = j.at("method").get<std::string>();
    r.path = j.at("path").get<std::string>();
    r.function = j.at("function").get<std::string>();
    if (j.contains("version") && !j["version"].is_null()) r.version = j["version"].get<int64_t>();
    auth = j.value("auth", "key");
    mode = j.value("mode", "sync");
    errors = j.value("errors", "");
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("route fields: ") + e.what());
  }
  std::transform(r.method.begin(), r.method.end(), r.method.begin(), ::toupper);
  static const char* kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
  if (std::find_if(std::begin(kMethods), std::end(kMethods), [&](const char* m) { return r.method == m; }) ==
      std::end(kMethods)) {
    return InvalidArgument("method '" + r.method + "' is not an HTTP method Kiln routes");
  }
  if (r.path.find('?') != std::string::npos) return InvalidArgument("a route path carries no query");
  KILN_RETURN_IF_ERROR(CheckRoutePath(r.path));
  if (ReservedPath(r.path)) return InvalidArgument("path '" + r.path + "' is reserved by Kiln");
  if (auth != "key" && auth != "none") return InvalidArgument("auth must be 'key' or 'none'");
  if (mode != "sync" && mode != "async") return InvalidArgument("mode must be 'sync' or 'async'");
  if (!errors.empty() && errors != "generic" && errors != "detailed") {
    return InvalidArgument("errors must be 'generic' or 'detailed'");
  }
  r.auth = auth == "none" ? RouteAuth::kNone : RouteAuth::kKey;
  r.mode = mode == "async" ? RouteMode::kAsync : RouteMode::kSync;
  // A public route hides its failures unless it asks otherwise; a keyed one shows them.
  if (errors.empty()) errors = r.auth == RouteAuth::kNone ? "generic" : "detailed";
  r.errors = errors == "generic" ? RouteErrors::kGeneric : RouteErrors::kDetailed;
  if (d_.catalog->Find(r.function, r.version) == nullptr) {
    if (r.version) return NotFound("no function " + r.function + ":" + std::to_string(*r.version));
    return d_.deployer->NotServing(r.function);
  }
  KILN_ASSIGN_OR_RETURN(kiln::Route stored, d_.catalog->AddRoute(std::move(r)));
  return json(stored);
}

Result<json> ControlApi::ListRuns(const Request& req) {
  RunFilter f;
  f.function = QueryParam(Sv(req.target()), "function");
  std::string status = QueryParam(Sv(req.target()), "status");
  if (!status.empty()) {
    f.status = ParseRunStatus(status);
    if (!f.status) return InvalidArgument("unknown run status '" + status + "'");
  }
  std::string cold = QueryParam(Sv(req.target()), "cold");
  if (!cold.empty()) f.cold = cold == "true" || cold == "1";
  std::string limit = QueryParam(Sv(req.target()), "limit");
  if (!limit.empty()) f.limit = std::clamp(std::atoi(limit.c_str()), 1, 1000);
  KILN_ASSIGN_OR_RETURN(auto runs, d_.store->ListRuns(f));
  json list = json::array();
  for (const auto& r : runs) {
    json jr = r;
    jr.erase("logs");
    list.push_back(std::move(jr));
  }
  return json{{"runs", list}};
}

// A run by its id, or by a unique prefix of it (at least 4 characters).
Result<json> ControlApi::GetRun(const std::string& id) {
  Result<RunRecord> run = d_.store->GetRun(id);
  if (!run.ok() && run.status().code() == Code::kNotFound && id.size() >= 4) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> ids, d_.store->FindRunIds(id, 2));
    if (ids.empty()) return NotFound("no run " + id);
    if (ids.size() > 1) return Conflict("run id prefix " + id + " is ambiguous (" + ids[0] + ", " + ids[1] + ", ...)");
    run = d_.store->GetRun(ids.front());
  }
  if (!run.ok()) return run.status();
  // A run still going shows its output so far (its record gets all of it at the end).
  if (run->status == RunStatus::kRunning) {
    if (auto so_far = d_.logs->OutputSoFar(run->id)) run->logs = *so_far;
  }
  return json(*run);
}

}  // namespace kiln::control
