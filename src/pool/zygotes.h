// DESIGN: the layer zygotes (issue #7): one per distinct (environment, layer set,
// preload list), each a kiln-worker that imported its layers' preloadable modules
// and forks containers on request (sandbox/fork_server.h). A cold start forks from
// one instead of starting a fresh interpreter, so the imports are paid once per
// layer set and their memory is shared by every container forked from it.
//
// A ready zygote keeps one spare child ready to launch (spare_child.h).
//
// Lifecycle: started on a version's first need (its deploy's pre-warm, usually)
// and awaited then; `starting -> ready | broken`. Kept while an aspired version
// wants it (Keep, from the pool's reconcile pass); one that died is restarted in
// the background, and meanwhile starts fall back to a fresh interpreter. A broken
// one (a preload failed) stays broken: the caller falls back, and says why in the
// run's record. Each counts its memory limit in the node's budget (reserved_mb).
// Threading: the daemon's I/O thread only; a zygote's process is spawned on the
// blocking pool and awaited (blocking_call.h).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "pool/container.h"

namespace kiln::pool {

// What a zygote is made of; equal keys share one.
struct ZygoteSpec {
  std::string key;
  std::vector<std::string> layers;        // "ml:1", for listings
  std::vector<sandbox::BindMount> binds;  // the layers under /opt
  std::string preload_header;             // PRELOAD: {"layer_paths", "modules"}
  std::vector<std::string> env;           // the zygote's, and so its children's
};

// A zygote or a snapshot template, for `GET /v1/zygotes`.
struct ForkSourceInfo {
  std::string id;
  std::string kind;  // layers | snapshot
  std::vector<std::string> layers;
  std::string function;  // snapshot only
  int64_t version = 0;   // snapshot only
  pid_t pid = 0;
  std::string state;  // starting | ready | broken
  std::vector<std::string> preloaded;
  std::optional<double> rss_mb;
  int64_t forks = 0;
  int64_t started_at_ms = 0;
  std::string message;
  std::string spare_id;  // the child forked ahead, waiting for a cold start
  pid_t spare_pid = 0;
};

struct ZygoteConfig {
  std::string worker_path;
  const sandbox::Sandbox* sandbox = nullptr;
  asio::any_io_executor blocking;  // where a spare is moved into its cgroup
  int64_t memory_mb = 512;
  std::chrono::milliseconds start_timeout{60000};
};

class Zygotes {
 public:
  Zygotes(asio::any_io_executor ex, ZygoteConfig config) : ex_(ex), config_(std::move(config)) {}
  ~Zygotes() { Shutdown(); }

  // A worker forked from the zygote of `zygote` (started and awaited first if there
  // is none). `child` is the container's spawn spec.
  // An error says why there is nothing to fork from: the caller starts a fresh one.
  asio::awaitable<Result<sandbox::WorkerProcess>> Fork(const ZygoteSpec& zygote, const sandbox::SpawnSpec& child,
                                                       int64_t free_mb);

  // Zygotes of other keys go; wanted ones that died start again.
  void Keep(const std::map<std::string, ZygoteSpec>& wanted);

  int64_t reserved_mb() const;
  std::vector<ForkSourceInfo> List() const;
  void Shutdown();

 private:
  struct Zygote;
  // Starts (or restarts) a zygote: its process is spawned on the blocking pool, then
  // it imports its preload list (Start); it is `starting` until then.
  void Launch(const std::shared_ptr<Zygote>& z);
  asio::awaitable<void> Start(std::shared_ptr<Zygote> z, sandbox::SpawnSpec spec);

  asio::any_io_executor ex_;
  ZygoteConfig config_;
  std::map<std::string, std::shared_ptr<Zygote>> zygotes_;
  int64_t next_id_ = 1;
};

}  // namespace kiln::pool
