#include "layers/layer_builder.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/file_hash.h"
#include "layers/preload_check.h"
#include "common/unique_fd.h"
#include "registry/bundle_extractor.h"

namespace kiln::layers {
namespace fs = std::filesystem;

struct LayerBuilder::Build {
  std::string id;
  std::string layer;
  std::string requirements;
  std::string status = "building";
  std::string log;
  std::optional<int64_t> version;
  std::string error;
};

namespace {

// Runs argv, streaming its stdout+stderr into `sink`. Returns the exit status.
Result<int> RunStreaming(const std::vector<std::string>& args,
                         const std::function<void(std::string_view)>& sink) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  UniqueFd rd(p[0]), wr(p[1]);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork");
  if (pid == 0) {
    dup2(wr.get(), 1);
    dup2(wr.get(), 2);
    close_range(3, ~0U, 0);  // no descriptor of the daemon (its port, its database)
    execv(argv[0], argv.data());
    _exit(127);
  }
  wr.reset();
  char buf[4096];
  for (;;) {
    ssize_t n = read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sink(std::string_view(buf, static_cast<size_t>(n)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Lists the distributions installed in a folder, with their top-level modules, as
// JSON: run by the runtime's own interpreter, so it reads what the worker will import.
constexpr const char* kManifestScript = R"py(
import json, sys
from importlib import metadata
out = []
for d in metadata.distributions(path=[sys.argv[1]]):
    top = (d.read_text("top_level.txt") or "").split()
    if not top:
        names = set()
        for f in d.files or []:
            head = f.parts[0] if f.parts else ""
            if not head or head in ("..", "__pycache__", "bin") or head.endswith((".dist-info", ".egg-info", ".pth", ".data")):
                continue
            names.add(head[:-3] if head.endswith(".py") else head.split(".")[0])
        top = sorted(names)
    out.append({"name": d.metadata["Name"], "version": d.version, "top_level": top})
print(json.dumps(sorted(out, key=lambda x: x["name"].lower())))
)py";

// What python/ offers at its top level: packages, modules, extension modules.
std::vector<std::string> TopLevelModules(const std::string& site) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(site, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with(".") || name == "__pycache__" || name == "bin" || name.ends_with(".dist-info") ||
        name.ends_with(".egg-info") || name.ends_with(".pth") || name.ends_with(".data")) {
      continue;
    }
    if (e.is_directory(ec)) {
      out.push_back(name);
    } else if (name.ends_with(".py") || name.ends_with(".so")) {
      out.push_back(name.substr(0, name.find('.')));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// pip's own words for a failure: its ERROR lines, or else the last lines it wrote.
std::string PipError(const std::string& log) {
  std::istringstream in(log);
  std::vector<std::string> errors, tail;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line.starts_with("ERROR:")) errors.push_back(line);
    tail.push_back(line);
    if (tail.size() > 3) tail.erase(tail.begin());
  }
  std::string out;
  for (const auto& line : errors.empty() ? tail : errors) out += (out.empty() ? "" : " | ") + line;
  return out;
}

int64_t TreeSize(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

}  // namespace

LayerBuilder::LayerBuilder(boost::asio::any_io_executor io, Store* store, std::string data_dir,
                           std::string python, int64_t max_layer_bytes)
    : io_(std::move(io)),
      store_(store),
      root_(data_dir + "/layers"),
      python_(std::move(python)),
      max_layer_bytes_(max_layer_bytes) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    if (e.path().filename().string().starts_with(".")) fs::remove_all(e.path(), ec);  // unfinished
  }
}

LayerBuilder::~LayerBuilder() {
  for (auto& t : threads_) t.join();
}

std::string LayerBuilder::RootPath(const LayerVersion& layer) const {
  return root_ + "/" + layer.digest.substr(layer.digest.find(':') + 1);
}

std::string LayerBuilder::SitePath(const LayerVersion& layer) const { return RootPath(layer) + "/python"; }

std::string LayerBuilder::Start(const std::string& name, const std::string& requirements,
                                const std::string& wheelhouse) {
  auto build = std::make_shared<Build>();
  build->id = "b-" + RandomAlnum(10);
  build->layer = name;
  build->requirements = requirements;
  std::lock_guard lock(mu_);
  builds_[build->id] = build;
  threads_.emplace_back([this, build, wheelhouse] { Run(build, wheelhouse); });
  return build->id;
}

std::optional<nlohmann::json> LayerBuilder::Describe(const std::string& build_id) {
  std::lock_guard lock(mu_);
  auto it = builds_.find(build_id);
  if (it == builds_.end()) return std::nullopt;
  const Build& b = *it->second;
  return nlohmann::json{{"id", b.id},
                        {"layer", b.layer},
                        {"status", b.status},
                        {"log", b.log},
                        {"version", b.version ? nlohmann::json(*b.version) : nlohmann::json(nullptr)},
                        {"error", b.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(b.error)}};
}

Status LayerBuilder::Describe(StagedLayer& staged) const {
  const std::string site = staged.staging + "/python";
  staged.layer.size_bytes = TreeSize(staged.staging);
  if (staged.layer.size_bytes > max_layer_bytes_) {
    return InvalidArgument("the layer unpacks to " + std::to_string(staged.layer.size_bytes >> 20) +
                           " MiB, over the cap of " + std::to_string(max_layer_bytes_ >> 20) +
                           " MiB (kiln serve --max-layer-mb)");
  }
  std::string listing;
  auto rc = RunStreaming({python_, "-I", "-c", kManifestScript, site}, [&](std::string_view s) { listing.append(s); });
  auto parsed = nlohmann::json::parse(listing, nullptr, false);
  if (!rc.ok() || *rc != 0 || !parsed.is_array()) {
    return Internal("could not list the installed distributions: " + listing);
  }
  staged.layer.distributions = parsed.get<std::vector<LayerDistribution>>();
  staged.layer.packages.clear();
  for (const auto& d : staged.layer.distributions) staged.layer.packages.push_back(d.name + "==" + d.version);
  staged.layer.modules = TopLevelModules(site);
  DescribePreload(python_, staged.staging, staged.layer);
  return OkStatus();
}

static std::string DigestOf(const std::string& requirements, std::vector<std::string> packages) {
  std::sort(packages.begin(), packages.end());
  std::string identity = requirements + "\n--\n";
  for (const auto& p : packages) identity += p + "\n";
  return "sha256:" + Sha256Hex(identity);
}

// A rebuild costs a resolve, not an install: pip resolves the requirements without
// installing (--dry-run --report), and when the requirements and the resolved set
// match a published version's digest, that version is the answer.
std::optional<int64_t> LayerBuilder::KnownVersion(const std::shared_ptr<Build>& build,
                                                  std::vector<std::string> pip) {
  const std::string report = root_ + "/.build-" + build->id + ".report.json";
  pip.insert(pip.begin() + 4, {"--dry-run", "--ignore-installed", "--quiet", "--report", report});
  std::string output;
  auto rc = RunStreaming(pip, [&](std::string_view s) { output.append(s); });
  std::ifstream in(report);
  auto parsed = nlohmann::json::parse(in, nullptr, false);
  std::error_code ec;
  fs::remove(report, ec);
  if (!rc.ok() || *rc != 0 || !parsed.is_object() || !parsed.contains("install")) return std::nullopt;
  std::vector<std::string> packages;
  for (const auto& item : parsed["install"]) {
    const auto& meta = item.value("metadata", nlohmann::json::object());
    packages.push_back(meta.value("name", "") + "==" + meta.value("version", ""));
  }
  const std::string digest = DigestOf(build->requirements, std::move(packages));
  // The store belongs to the I/O thread: ask it there, bounded (it may be stopping).
  auto answer = std::make_shared<std::promise<std::optional<int64_t>>>();
  auto future = answer->get_future();
  boost::asio::post(io_, [this, name = build->layer, digest, answer] {
    std::optional<int64_t> found;
    if (auto all = store_->ListLayerVersions(name); all.ok()) {
      for (const auto& l : *all) {
        if (l.digest == digest) found = l.version;
      }
    }
    answer->set_value(found);
  });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return std::nullopt;
  return future.get();
}

std::string LayerBuilder::LogOf(const std::shared_ptr<Build>& build) {
  std::lock_guard lock(mu_);
  return build->log;
}

void LayerBuilder::Run(std::shared_ptr<Build> build, std::string wheelhouse) {
  auto append = [&](std::string_view text) {
    std::lock_guard lock(mu_);
    build->log.append(text);
  };
  // By value: it also runs on the I/O thread after this function has returned.
  auto finish = [this, build](std::string status, std::optional<int64_t> version, std::string error) {
    std::lock_guard lock(mu_);
    build->status = std::move(status);
    build->version = version;
    build->error = std::move(error);
  };
  StagedLayer staged{root_ + "/.build-" + build->id, {}};
  staged.layer.name = build->layer;
  staged.layer.requirements = build->requirements;
  staged.layer.source = "build";
  std::error_code ec;
  fs::create_directories(staged.staging + "/python", ec);
  std::string req_path = root_ + "/.build-" + build->id + ".requirements.txt";
  std::ofstream(req_path) << build->requirements;

  std::vector<std::string> pip = {python_, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                                  "--progress-bar", "off", "--cache-dir", root_ + "/../pip-cache",
                                  "--target", staged.staging + "/python", "-r", req_path};
  if (!wheelhouse.empty()) pip.insert(pip.end(), {"--no-index", "--find-links", wheelhouse});
  if (auto known = KnownVersion(build, pip)) {
    fs::remove_all(staged.staging, ec);
    fs::remove(req_path, ec);
    append("\nunchanged: same requirements and resolved set as " + build->layer + ":" +
           std::to_string(*known) + " (resolved only, nothing installed)\n");
    return finish("ok", known, "");
  }
  auto rc = RunStreaming(pip, append);
  fs::remove(req_path, ec);
  Status described = !rc.ok()   ? rc.status()
                     : *rc != 0 ? InvalidArgument("pip install failed (exit " + std::to_string(*rc) + "): " +
                                                  PipError(LogOf(build)))
                                : Describe(staged);
  if (!described.ok()) {
    fs::remove_all(staged.staging, ec);
    return finish("failed", std::nullopt, described.message());
  }
  staged.layer.digest = DigestOf(build->requirements, staged.layer.packages);
  boost::asio::post(io_, [this, build, staged = std::move(staged), finish]() mutable {
    const std::string name = staged.layer.name;
    auto published = Publish(std::move(staged));
    if (!published.ok()) return finish("failed", std::nullopt, published.status().message());
    const LayerVersion& l = published->layer;
    {
      std::lock_guard lock(mu_);
      build->log += published->fresh ? "\npublished " + name + ":" + std::to_string(l.version) + "\n"
                                     : "\nunchanged: same requirements and resolved set as " + name + ":" +
                                           std::to_string(l.version) + "\n";
    }
    spdlog::info("layer {}:{} ready ({} bytes)", name, l.version, l.size_bytes);
    finish("ok", l.version, "");
  });
}

Result<StagedLayer> LayerBuilder::StagePush(const std::string& name, const std::string& archive_path) const {
  StagedLayer staged{root_ + "/.push-" + RandomAlnum(10), {}};
  staged.layer.name = name;
  staged.layer.source = "push";
  KILN_ASSIGN_OR_RETURN(std::string hex, Sha256FileHex(archive_path));
  staged.layer.digest = "sha256:" + hex;
  std::error_code ec;
  auto extracted = ExtractBundleFile(archive_path, staged.staging, {max_layer_bytes_, 200000});
  Status st = OkStatus();
  if (!extracted.ok()) {
    const std::string& why = extracted.status().message();
    const bool size_cap = why.find("more than") != std::string::npos;
    st = InvalidArgument("layer archive: " + why +
                         (size_cap ? " (kiln serve --max-layer-mb " + std::to_string(max_layer_bytes_ >> 20) + ")" : ""));
  }
  if (st.ok() && !fs::is_directory(staged.staging + "/python", ec)) {
    st = InvalidArgument("a layer archive holds python/ at its root (the Lambda layout: python/, lib/, bin/)");
  }
  if (st.ok()) st = Describe(staged);
  if (!st.ok()) {
    fs::remove_all(staged.staging, ec);
    return st;
  }
  return staged;
}

Result<Published> LayerBuilder::Publish(StagedLayer staged) {
  std::error_code ec;
  auto existing = store_->ListLayerVersions(staged.layer.name);
  if (!existing.ok()) {
    fs::remove_all(staged.staging, ec);
    return existing.status();
  }
  for (const auto& l : *existing) {
    if (l.digest == staged.layer.digest) {  // unchanged: the same version
      fs::remove_all(staged.staging, ec);
      return Published{l, false};
    }
  }
  const std::string final_dir = RootPath(staged.layer);
  if (fs::exists(final_dir, ec)) {
    fs::remove_all(staged.staging, ec);  // another layer name published the same tree
  } else {
    fs::rename(staged.staging, final_dir, ec);
    if (ec) {
      fs::remove_all(staged.staging, ec);
      return Internal("publish " + final_dir + ": " + ec.message());
    }
  }
  KILN_ASSIGN_OR_RETURN(LayerVersion stored, store_->CreateLayerVersion(std::move(staged.layer)));
  return Published{std::move(stored), true};
}

Status LayerBuilder::Remove(const std::string& name, int64_t version) {
  KILN_RETURN_IF_ERROR(store_->DeleteLayerVersion(name, version));
  CollectGarbage();
  return OkStatus();
}

void LayerBuilder::CollectGarbage() {
  auto all = store_->ListLayerVersions("");
  if (!all.ok()) return;
  std::set<std::string> live;
  for (const auto& l : *all) live.insert(RootPath(l));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    const std::string path = e.path().string();
    if (e.path().filename().string().starts_with(".") || live.count(path) > 0) continue;
    spdlog::info("layer files {} are no longer used: removed", path);
    fs::remove_all(path, ec);
  }
}

}  // namespace kiln::layers
