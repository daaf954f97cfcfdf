#include "layers/layer_builder.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/unique_fd.h"

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
                           std::string python)
    : io_(std::move(io)), store_(store), root_(data_dir + "/layers"), python_(std::move(python)) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    if (e.path().filename().string().rfind(".build-", 0) == 0) fs::remove_all(e.path(), ec);
  }
}

LayerBuilder::~LayerBuilder() {
  for (auto& t : threads_) t.join();
}

std::string LayerBuilder::SitePath(const LayerVersion& layer) const {
  return root_ + "/" + layer.digest.substr(layer.digest.find(':') + 1) + "/python";
}

std::string LayerBuilder::Start(const std::string& name, const std::string& requirements) {
  auto build = std::make_shared<Build>();
  build->id = "b-" + RandomAlnum(10);
  build->layer = name;
  build->requirements = requirements;
  std::lock_guard lock(mu_);
  builds_[build->id] = build;
  threads_.emplace_back([this, build] { Run(build); });
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

void LayerBuilder::Run(std::shared_ptr<Build> build) {
  auto append = [&](std::string_view text) {
    std::lock_guard lock(mu_);
    build->log.append(text);
  };
  auto fail = [&](const std::string& why) {
    std::lock_guard lock(mu_);
    build->status = "failed";
    build->error = why;
  };
  std::string staging = root_ + "/.build-" + build->id;
  std::error_code ec;
  fs::create_directories(staging + "/python", ec);
  std::string req_path = staging + "/requirements.txt";
  std::ofstream(req_path) << build->requirements;

  auto rc = RunStreaming({python_, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                          "--progress-bar", "off", "--cache-dir", root_ + "/../pip-cache",
                          "--target", staging + "/python", "-r", req_path},
                         append);
  if (!rc.ok() || *rc != 0) {
    fs::remove_all(staging, ec);
    return fail(rc.ok() ? "pip install failed (exit " + std::to_string(*rc) + "); see the log"
                        : rc.status().message());
  }
  std::string listing;
  auto list_rc = RunStreaming({python_, "-m", "pip", "list", "--disable-pip-version-check",
                               "--format", "json", "--path", staging + "/python"},
                              [&](std::string_view s) { listing.append(s); });
  auto parsed = nlohmann::json::parse(listing.substr(std::min(listing.find('['), listing.size())),
                                      nullptr, false);
  if (!list_rc.ok() || *list_rc != 0 || !parsed.is_array()) {
    fs::remove_all(staging, ec);
    return fail("could not list the installed packages: " + listing);
  }
  std::vector<std::string> packages;
  for (const auto& p : parsed) {
    packages.push_back(p.value("name", "") + "==" + p.value("version", ""));
  }
  std::sort(packages.begin(), packages.end());
  std::string identity = build->requirements + "\n--\n";
  for (const auto& p : packages) identity += p + "\n";
  std::string digest = "sha256:" + Sha256Hex(identity);
  int64_t size = TreeSize(staging + "/python");
  boost::asio::post(io_, [this, build, staging, digest, packages, size]() mutable {
    Publish(build, std::move(staging), std::move(digest), std::move(packages), size);
  });
}

void LayerBuilder::Publish(std::shared_ptr<Build> build, std::string staging, std::string digest,
                           std::vector<std::string> packages, int64_t size) {
  std::error_code ec;
  auto finish = [&](std::string status, std::optional<int64_t> version, std::string error) {
    std::lock_guard lock(mu_);
    build->status = std::move(status);
    build->version = version;
    build->error = std::move(error);
  };
  auto existing = store_->ListLayerVersions(build->layer);
  if (!existing.ok()) return finish("failed", std::nullopt, existing.status().message());
  for (const auto& l : *existing) {
    if (l.digest == digest) {
      fs::remove_all(staging, ec);
      {
        std::lock_guard lock(mu_);
        build->log += "\nunchanged: same requirements and resolved set as " + l.name + ":" +
                      std::to_string(l.version) + "\n";
      }
      return finish("ok", l.version, "");
    }
  }
  std::string final_dir = root_ + "/" + digest.substr(7);
  if (fs::exists(final_dir, ec)) {
    fs::remove_all(staging, ec);
  } else {
    fs::rename(staging, final_dir, ec);
    if (ec) return finish("failed", std::nullopt, "publish " + final_dir + ": " + ec.message());
  }
  LayerVersion l;
  l.name = build->layer;
  l.digest = digest;
  l.requirements = build->requirements;
  l.packages = std::move(packages);
  l.size_bytes = size;
  auto stored = store_->CreateLayerVersion(std::move(l));
  if (!stored.ok()) return finish("failed", std::nullopt, stored.status().message());
  spdlog::info("layer {}:{} published ({} bytes)", stored->name, stored->version, size);
  finish("ok", stored->version, "");
}

}  // namespace kiln::layers
