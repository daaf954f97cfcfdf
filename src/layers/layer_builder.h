// DESIGN: builds layers from a requirements.txt with the runtime's own CPython (the
// interpreter workers embed, fixed at build time), so wheels and runtime agree.
//
// A build runs on a thread of its own: pip installs into a staging folder under
// <data>/layers, its output streams into the build's log (which the CLI polls to
// show progress), then the installed set is listed. The digest of the requirements
// and the resolved set names the published folder (<data>/layers/<hex>/python);
// publishing is a rename, so a folder under a digest is always complete, and the
// same requirements resolving to the same set make no new version. The store
// insert happens back on the I/O thread, the only user of that store connection.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/records.h"
#include "store/store.h"

namespace kiln::layers {

class LayerBuilder {
 public:
  LayerBuilder(boost::asio::any_io_executor io, Store* store, std::string data_dir,
               std::string python);
  ~LayerBuilder();  // waits for running builds

  // Returns the build id.
  std::string Start(const std::string& name, const std::string& requirements);
  std::optional<nlohmann::json> Describe(const std::string& build_id);

  // Where a published layer's importable tree lives.
  std::string SitePath(const LayerVersion& layer) const;

 private:
  struct Build;
  void Run(std::shared_ptr<Build> build);
  void Publish(std::shared_ptr<Build> build, std::string staging, std::string digest,
               std::vector<std::string> packages, int64_t size);

  boost::asio::any_io_executor io_;
  Store* store_;  // I/O thread only
  std::string root_;
  std::string python_;
  std::mutex mu_;  // guards builds_ and every Build's mutable fields
  std::map<std::string, std::shared_ptr<Build>> builds_;
  std::vector<std::thread> threads_;  // joined at destruction
};

}  // namespace kiln::layers
