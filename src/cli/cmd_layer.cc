// kiln layer build|push|ls|show|rm
//
// A layer version is published by the daemon either from a requirements file (`build`:
// server-side pip, polled until it ends) or from a prebuilt archive in the Lambda
// layout (`push`: python/ at the root, optional lib/ and bin/). Both end with the same
// result line, `ml:2 published: 3 distributions, 48.2 MiB` (or `unchanged` when the
// daemon already had that exact layer), then the manifest. Progress goes to stderr so
// that stdout holds only the result, or one JSON document with --json.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/bundle_packer.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct LayerFlags {
  std::string name, requirements, wheelhouse, target;
  bool json = false;
};

// NAME or NAME:VERSION as typed on the command line.
struct LayerRef {
  std::string name;
  std::optional<int64_t> version;
  std::string Label() const { return version ? name + ":" + std::to_string(*version) : name; }
};

Result<LayerRef> ParseRef(const std::string& text) {
  LayerRef ref;
  size_t colon = text.find(':');
  ref.name = text.substr(0, colon);
  if (ref.name.empty()) return InvalidArgument("'" + text + "' is not NAME or NAME:VERSION");
  if (colon == std::string::npos) return ref;
  std::string v = text.substr(colon + 1);
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos ||
      std::stoll(v) < 1) {
    return InvalidArgument("'" + text + "': the version after ':' must be a number from 1");
  }
  ref.version = std::stoll(v);
  return ref;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double MiB(const json& bytes) { return bytes.is_number() ? bytes.get<double>() / (1 << 20) : 0; }

// The version's distributions as {name, version, top-level modules}; from the
// manifest, or from "name==version" packages when a version has no manifest.
std::vector<std::vector<std::string>> DistributionRows(const json& v) {
  std::vector<std::vector<std::string>> rows;
  auto manifest = v.find("manifest");
  if (manifest != v.end() && manifest->is_object() && manifest->contains("distributions")) {
    for (const auto& d : (*manifest)["distributions"]) {
      std::string top;
      for (const auto& m : d.value("top_level", json::array())) {
        top += (top.empty() ? "" : " ") + m.get<std::string>();
      }
      rows.push_back({Cell(d, "name"), Cell(d, "version"), top.empty() ? "-" : top});
    }
    return rows;
  }
  for (const auto& p : v.value("packages", json::array())) {
    std::string s = p.get<std::string>();
    size_t eq = s.find("==");
    rows.push_back({s.substr(0, eq), eq == std::string::npos ? "-" : s.substr(eq + 2), "-"});
  }
  return rows;
}

// The distributions, then what python/ holds at its top level (all a pushed layer
// without metadata has to show).
void PrintManifest(const json& v) {
  auto rows = DistributionRows(v);
  if (!rows.empty()) PrintTable({"DISTRIBUTION", "VERSION", "TOP-LEVEL"}, rows);
  std::string modules;
  auto manifest = v.find("manifest");
  if (manifest != v.end() && manifest->is_object()) {
    for (const auto& m : manifest->value("modules", json::array())) modules += " " + Cell(m);
  }
  if (!modules.empty()) std::printf("modules:%s\n", modules.c_str());
}

// `ml:2 published: 3 distributions, 48.2 MiB`, then the manifest.
void PrintResult(const json& v, bool unchanged, const std::string& why_unchanged) {
  auto rows = DistributionRows(v);
  std::printf("%s:%s %s: %zu distribution%s, %.1f MiB%s\n", Cell(v, "name").c_str(),
              Cell(v, "version").c_str(), unchanged ? "unchanged" : "published", rows.size(),
              rows.size() == 1 ? "" : "s", MiB(v.value("size_bytes", json())),
              unchanged ? (" (" + why_unchanged + ")").c_str() : "");
  PrintManifest(v);
}

// A non-2xx reply of a raw (non-JSON) request as a Status, as Client::Call maps them.
Status StatusOf(const Reply& r) {
  Code code = r.status == 404   ? Code::kNotFound
              : r.status == 409 ? Code::kConflict
              : r.status == 413 ? Code::kPayloadTooLarge
              : r.status == 401 ? Code::kUnauthenticated
              : r.status >= 500 ? Code::kInternal
                                : Code::kInvalidArgument;
  return Status(code, ErrorText(r));
}

// The layer's versions, or none when the layer does not exist yet.
Result<json> VersionsOf(Client& client, const std::string& name) {
  auto layer = client.Call("GET", "/v1/layers/" + name);
  if (!layer.ok() && layer.status().code() == Code::kNotFound) return json::array();
  if (!layer.ok()) return layer.status();
  return (*layer)["versions"];
}

// Prints the build log to stderr a whole line at a time, each line stamped with the
// time since the build started, so a long pip install shows where it is.
class LogPrinter {
 public:
  void Feed(const std::string& log, double secs) {
    if (log.size() <= seen_) return;
    pending_.append(log, seen_, std::string::npos);
    seen_ = log.size();
    for (size_t nl; (nl = pending_.find('\n')) != std::string::npos; pending_.erase(0, nl + 1)) {
      std::fprintf(stderr, "[%6.1fs] %.*s\n", secs, static_cast<int>(nl), pending_.data());
    }
  }
  void Flush(double secs) {
    if (!pending_.empty()) std::fprintf(stderr, "[%6.1fs] %s\n", secs, pending_.c_str());
    pending_.clear();
  }

 private:
  size_t seen_ = 0;
  std::string pending_;
};

// pip's own words for why it failed: its last "ERROR:" line, if the log has one.
std::string PipError(const std::string& log) {
  size_t at = log.rfind("ERROR:");
  if (at == std::string::npos || (at > 0 && log[at - 1] != '\n')) return "";
  return log.substr(at, log.find('\n', at) - at);
}

Status Build(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(std::string requirements, ReadFile(f.requirements));
  json body = {{"requirements", requirements}};
  // The folder is read by the daemon, so it gets an absolute path.
  if (!f.wheelhouse.empty()) {
    body["wheelhouse"] = fs::absolute(f.wheelhouse).lexically_normal().string();
  }
  KILN_ASSIGN_OR_RETURN(json before, VersionsOf(client, f.name));
  KILN_ASSIGN_OR_RETURN(json started,
                        client.Call("POST", "/v1/layers/" + f.name + "/builds", body));
  const std::string id = started["build_id"];
  std::fprintf(stderr, "building layer %s (build %s)\n", f.name.c_str(), id.c_str());

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  LogPrinter printer;
  json b;
  for (;;) {
    KILN_ASSIGN_OR_RETURN(b, client.Call("GET", "/v1/layer-builds/" + id));
    printer.Feed(b.value("log", ""), elapsed());
    if (b["status"] != "building") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  printer.Flush(elapsed());
  if (b["status"] != "ok") {
    std::string why = b["error"].is_string() ? b["error"].get<std::string>() : "no reason given";
    std::string pip = PipError(b.value("log", ""));
    if (!pip.empty() && why.find(pip) == std::string::npos) why += ": " + pip;
    return Internal("layer build " + f.name + " failed after " +
                    std::to_string(std::lround(elapsed())) + " s: " + why);
  }

  KILN_ASSIGN_OR_RETURN(json versions, VersionsOf(client, f.name));
  json built;
  for (const auto& v : versions) {
    if (v["version"] == b["version"]) built = v;
  }
  if (built.is_null()) {
    return Internal("build " + id + " ended ok but " + f.name + ":" + Cell(b["version"]) +
                    " is not listed");
  }
  if (f.json) {
    PrintJson(built);
    return OkStatus();
  }
  bool unchanged = false;
  for (const auto& v : before) unchanged = unchanged || v["version"] == built["version"];
  std::fprintf(stderr, "build took %.1f s\n", elapsed());
  PrintResult(built, unchanged, "same requirements and resolved set");
  return OkStatus();
}

// The archive bytes of a .zip/.tar.gz, or of a folder packed as tar.gz.
Result<std::string> LayerArchive(const std::string& target) {
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    if (!fs::is_directory(fs::path(target) / "python", ec)) {
      return InvalidArgument(
          target +
          " has no python/ folder at its root (the Lambda layer layout: python/, "
          "optional lib/ and bin/)");
    }
    KILN_ASSIGN_OR_RETURN(PackedBundle packed, PackDirectory(target));
    std::fprintf(stderr, "packed %lld files from %s\n", static_cast<long long>(packed.files),
                 target.c_str());
    return std::move(packed.bytes);
  }
  auto ends = [&](const std::string& s) {
    return target.size() >= s.size() && target.compare(target.size() - s.size(), s.size(), s) == 0;
  };
  if (!ends(".zip") && !ends(".tar.gz") && !ends(".tgz")) {
    return InvalidArgument(target + " is neither a folder nor a .zip/.tar.gz layer archive");
  }
  return ReadFile(target);
}

Status Push(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(std::string archive, LayerArchive(f.target));
  bool zip = archive.size() >= 2 && archive[0] == 'P' && archive[1] == 'K';
  std::fprintf(stderr, "uploading %.1f MiB…\n", archive.size() / double(1 << 20));
  auto sent = client.Send("POST", "/v1/layers/" + f.name + "/archives", archive,
                          zip ? "application/zip" : "application/gzip");
  if (!sent.ok()) {
    char size[32];
    std::snprintf(size, sizeof size, "%.1f MiB", archive.size() / double(1 << 20));
    return Status(sent.status().code(),
                  std::string("upload of ") + size + " failed: " + sent.status().message());
  }
  const Reply& r = *sent;
  if (r.status != 200 && r.status != 201) return StatusOf(r);
  json v = json::parse(r.body, nullptr, false);
  if (v.is_discarded()) {
    return Internal("the server's answer is not JSON: " + r.body.substr(0, 200));
  }
  if (f.json) {
    PrintJson(v);
    return OkStatus();
  }
  PrintResult(v, r.status == 200, "this archive was pushed before");
  return OkStatus();
}

Status List(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto j, client.Call("GET", "/v1/layers"));
  if (f.json) {
    PrintJson(j);
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : j["layers"]) {
    char size[32];
    std::snprintf(size, sizeof size, "%.1f", MiB(l["size_bytes"]));
    rows.push_back({Cell(l["name"]) + ":" + Cell(l["version"]), Cell(l, "source"),
                    std::to_string(l["packages"].size()), size, Cell(l["digest"]).substr(0, 19),
                    Cell(l["created_at"])});
  }
  PrintTable({"LAYER", "SOURCE", "PACKAGES", "MIB", "DIGEST", "CREATED"}, rows);
  return OkStatus();
}

// NAME: the newest version's manifest (--json: the layer with every version);
// NAME:V: that version's.
Status Show(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(LayerRef ref, ParseRef(f.name));
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  KILN_ASSIGN_OR_RETURN(auto layer, client.Call("GET", "/v1/layers/" + ref.name));
  json shown;
  std::vector<std::string> others;
  for (const auto& v : layer["versions"]) {
    bool pick = ref.version ? v["version"] == *ref.version
                            : shown.is_null() ||
                                  v["version"].get<int64_t>() > shown["version"].get<int64_t>();
    if (pick) shown = v;
  }
  if (shown.is_null()) return NotFound("layer " + ref.Label() + " not found");
  if (f.json) {
    PrintJson(ref.version ? shown : layer);
    return OkStatus();
  }
  for (const auto& v : layer["versions"]) {
    if (v["version"] != shown["version"]) others.push_back(ref.name + ":" + Cell(v["version"]));
  }
  std::printf("%s:%s  source %s  %.1f MiB  %s  created %s\n", ref.name.c_str(),
              Cell(shown["version"]).c_str(), Cell(shown, "source").c_str(),
              MiB(shown["size_bytes"]), Cell(shown["digest"]).c_str(),
              Cell(shown["created_at"]).c_str());
  if (std::string req = shown.value("requirements", ""); !req.empty()) {
    std::printf("requirements:\n");
    std::istringstream lines(req);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) std::printf("  %s\n", line.c_str());
    }
  }
  PrintManifest(shown);
  if (!others.empty()) {
    std::string list;
    for (const auto& o : others) list += (list.empty() ? "" : ", ") + o;
    std::printf("other versions: %s\n", list.c_str());
  }
  return OkStatus();
}

// NAME:V removes that version; NAME every version. The daemon refuses (409) while
// a function version uses one, naming them.
Status Remove(const Globals& g, const LayerFlags& f) {
  KILN_ASSIGN_OR_RETURN(LayerRef ref, ParseRef(f.name));
  KILN_ASSIGN_OR_RETURN(Client client, g.MakeClient());
  std::string path = "/v1/layers/" + ref.name;
  if (ref.version) path += "/versions/" + std::to_string(*ref.version);
  KILN_RETURN_IF_ERROR(client.Call("DELETE", path).status());
  std::printf("layer %s removed%s\n", ref.Label().c_str(), ref.version ? "" : " (every version)");
  return OkStatus();
}

}  // namespace

void AddLayer(CLI::App& app, Globals& g) {
  auto f = std::make_shared<LayerFlags>();
  auto* layer = app.add_subcommand("layer", "Build, push and inspect dependency layers")
                    ->require_subcommand(1);
  auto* build =
      layer->add_subcommand("build", "Build a layer from requirements.txt (server-side pip)");
  build->add_option("name", f->name)->required();
  build->add_option("-r,--requirements", f->requirements, "requirements.txt")->required();
  build->add_option("--wheelhouse", f->wheelhouse,
                    "Install offline from this folder of wheels on the daemon's machine "
                    "(pip --no-index --find-links)");
  build->add_flag("--json", f->json, "Print the layer version as JSON");
  build->callback([&g, f] { g.status = Build(g, *f); });
  auto* push = layer->add_subcommand(
      "push", "Publish a prebuilt layer (Lambda layout: python/, lib/, bin/)");
  push->add_option("name", f->name)->required();
  push->add_option("archive", f->target, "A .zip or .tar.gz archive, or a folder")->required();
  push->add_flag("--json", f->json, "Print the layer version as JSON");
  push->callback([&g, f] { g.status = Push(g, *f); });
  auto* ls = layer->add_subcommand("ls", "List layer versions");
  ls->add_flag("--json", f->json);
  ls->callback([&g, f] { g.status = List(g, *f); });
  auto* show =
      layer->add_subcommand("show", "Show a layer version's manifest (default: the newest)");
  show->add_option("name", f->name, "NAME or NAME:VERSION")->required();
  show->add_flag("--json", f->json);
  show->callback([&g, f] { g.status = Show(g, *f); });
  auto* rm = layer->add_subcommand("rm", "Remove a layer version, or every version of a layer");
  rm->add_option("name", f->name, "NAME or NAME:VERSION")->required();
  rm->callback([&g, f] { g.status = Remove(g, *f); });
}

}  // namespace kiln::cli
