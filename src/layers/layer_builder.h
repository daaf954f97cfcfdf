// DESIGN: layers, built from a requirements.txt with the runtime's own CPython (the
// interpreter workers embed, fixed at build time, so wheels and runtime agree) or
// pushed as a ready archive in the Lambda layout (python/, optional lib/ and bin/).
//
// A build runs on a thread of its own: pip installs into a staging folder under
// <data>/layers (from PyPI through the shared wheel cache <data>/pip-cache, or only
// from a given wheelhouse folder), its output streams into the build's log (which
// the CLI polls to show progress). A push is unpacked by the bundle extractor (the
// same path, link and size checks as bundles) on the blocking pool. Either way the
// staged tree is then measured (the size cap) and described (the manifest: every
// installed distribution, its version and top-level modules, read with
// importlib.metadata by the same interpreter; which modules a zygote may preload,
// preload_check.h), and its digest (requirements +
// resolved set, or the archive's bytes) names the published folder
// <data>/layers/<hex>; publishing is a rename, so a folder under a digest is always
// complete, and the same digest makes no new version. The store insert happens back
// on the I/O thread, the only user of that store connection; a failure publishes
// nothing. Removing a version deletes its folder once no version refers to it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/records.h"
#include "store/store.h"

namespace kiln::layers {

// A layer tree staged on disk, described, not yet published.
struct StagedLayer {
  std::string staging;  // folder holding python/ (and lib/, bin/)
  LayerVersion layer;   // all but version and created_at
};

struct Published {
  LayerVersion layer;
  bool fresh = false;  // a new version; false: the digest was known already
};

class LayerBuilder {
 public:
  LayerBuilder(boost::asio::any_io_executor io, Store* store, std::string data_dir,
               std::string python, int64_t max_layer_bytes);
  ~LayerBuilder();  // waits for running builds

  // Returns the build id. `wheelhouse`: install only from that folder (offline).
  std::string Start(const std::string& name, const std::string& requirements,
                    const std::string& wheelhouse);
  std::optional<nlohmann::json> Describe(const std::string& build_id);

  // A pushed archive: unpack and describe (blocking; any thread), then publish (I/O
  // thread). Publish returns the existing version when the digest is known.
  Result<StagedLayer> StagePush(const std::string& name, const std::string& archive_path) const;
  Result<Published> Publish(StagedLayer staged);

  // Deletes the version from the store, then the folders no version refers to.
  Status Remove(const std::string& name, int64_t version);

  // A published layer's root (python/, lib/, bin/) and its importable tree.
  std::string RootPath(const LayerVersion& layer) const;
  std::string SitePath(const LayerVersion& layer) const;

 private:
  struct Build;
  void Run(std::shared_ptr<Build> build, std::string wheelhouse);
  // Size cap and manifest of a staged tree.
  Status Describe(StagedLayer& staged) const;
  void CollectGarbage();
  std::string LogOf(const std::shared_ptr<Build>& build);
  std::optional<int64_t> KnownVersion(const std::shared_ptr<Build>& build, std::vector<std::string> pip);

  boost::asio::any_io_executor io_;
  Store* store_;  // I/O thread only
  std::string root_;
  std::string python_;
  int64_t max_layer_bytes_;
  std::mutex mu_;  // guards builds_ and every Build's mutable fields
  std::map<std::string, std::shared_ptr<Build>> builds_;
  std::vector<std::thread> threads_;  // joined at destruction
};

}  // namespace kiln::layers
