// DESIGN: the pool keeps each function version's containers, one request per
// container at a time, and converges them on what the registry wants (SPEC §2).
//
// Request path (Acquire): the most recently used idle container (so under light load
// a few stay hot and the rest age out); else, below max_containers and within the
// node's memory budget, a cold start (to make room, idle containers of other versions
// are stopped, least recently used first); else a bounded FIFO queue in which a
// request waits at most its deadline; past the bound it is throttled. A container
// that comes back is handed straight to the first queued request; a freed place (or
// freed memory) lets the oldest queued request anywhere start one.
//
// Desired state: SetAspired names the versions that should be warm (each function's
// current version and pinned ones). A reconcile pass (every reconcile_every, and
// after anything leaves) applies reconcile_policy: keep min_warm, evict idle ones
// past their window, scale to zero, drain superseded versions. Pre-warm (deploy)
// starts min_warm containers and waits until they are warm.
//
// Recycling: a container that has served recycle_after requests goes when a request
// ends (never during one): at once if another idle container can take over, else
// after its successor, started then, is warm; so a recycle costs no request a cold
// start.
//
// Starting a container (issue #7): a version that asks for snapshots forks it from
// its template (the first of its containers to have served a request, set aside to
// fork from; it lives while the version is wanted, counts its memory in the budget,
// and is made again if it dies); otherwise from the zygote of its layer set (zygotes.h);
// otherwise, or when the way asked for is not there, a fresh worker starts. A start
// that went another way than asked says why (start_note) in its run's record.
//
// A deterministic init failure (import error, missing handler, exception at module
// scope) is remembered per version: requests fail fast with the same error instead
// of re-importing (versions are immutable), and nothing restarts it in the background.
//
// Every container's start and end go to the ContainerSink, the end with its reason.
// Threading: every method runs on the daemon's I/O thread; no locks. That thread does
// not wait on another process for a container start: the clone and the child's setup
// report (a fresh worker), the fork source's answer and the launch of its child (a
// zygote's or a template's) run on the blocking pool and are awaited
// (blocking_call.h), so a start held up by its child holds up nothing else
// (tests/e2e/test_io_thread.py); a zygote's own start too (zygotes.h). Not yet so
// (issue #16): the reap after a SIGKILL, and the run recorder's Flush.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>

#include "model/records.h"
#include "pool/clock.h"
#include "pool/container.h"
#include "pool/memory_budget.h"
#include "pool/place_ledger.h"
#include "pool/pool_settings.h"
#include "pool/zygotes.h"

namespace kiln::pool {

struct PoolConfig {
  std::string worker_path;
  std::vector<std::string> worker_env;  // the container's base environment
  PoolSettings defaults;                // the node's; versions may override
  int64_t memory_budget_mb = 0;         // sum of live containers' memory limits
  std::chrono::milliseconds init_timeout{60000};
  std::chrono::milliseconds reconcile_every{250};
  const sandbox::Sandbox* sandbox = nullptr;  // null: plain child processes
  int64_t zygote_memory_mb = 512;             // each zygote's limit, counted in the budget
  asio::any_io_executor blocking;             // for blocking work off the I/O thread
};

class Pool;
struct Slot;

// A container checked out of the pool; returns itself when destroyed.
class Lease {
 public:
  Lease(Pool* pool, std::shared_ptr<Slot> slot, std::shared_ptr<Container> c)
      : pool_(pool), slot_(std::move(slot)), container_(std::move(c)) {}
  Lease(Lease&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)), slot_(std::move(o.slot_)), container_(std::move(o.container_)) {}
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease& operator=(Lease&&) = delete;
  ~Lease();

  Container& container() { return *container_; }

 private:
  Pool* pool_;
  std::shared_ptr<Slot> slot_;
  std::shared_ptr<Container> container_;
};

struct Acquired {
  Lease lease;
  bool cold = false;
  double init_ms = 0;
  std::string init_logs;  // module-scope output of a cold start
  double queue_ms = 0;    // time spent waiting for a container or a place
  sandbox::StartPhases phases;  // a cold start: its container's fork and sandbox phases
  std::string start;       // a cold start: plain, zygote or snapshot
  std::string start_note;  // why it started another way than its version asks
};

// Why no container could be had.
struct Refusal {
  RunStatus status;  // error (init failure), timeout, crashed, throttled
  int http_status;
  std::string error_type;
  std::string message;
  std::string logs;
  std::optional<double> init_ms;
  bool cold = false;  // a cold start was attempted (and failed)
  double queue_ms = 0;
  std::optional<sandbox::StartPhases> phases;  // set when a container was made
  std::string start;
  std::string start_note;
};

struct PrewarmReport {
  size_t containers = 0;  // warm now
  double init_ms = 0;     // the first one's
  double rss_mb = 0;      // the first one's, after its init
  // Its private memory (what its cgroup is charged, which the limit applies to) and the
  // rest of its resident memory: pages it shares with the zygote or template it was
  // forked from (charged to that one, counted once in the node's budget).
  std::optional<double> private_mb, shared_mb;
  std::string start;      // how the first one started
  std::vector<std::string> warnings;
};

// A live container, for `kiln ps`.
struct ContainerInfo {
  std::string id;
  std::string function;
  int64_t version = 0;
  ContainerState state = ContainerState::kStarting;
  pid_t pid = 0;
  int64_t invocations = 0;
  int64_t started_at_ms = 0;
  double age_s = 0;
  std::optional<double> idle_s;
  std::optional<double> rss_mb;
  std::optional<double> private_mb, shared_mb;  // as in PrewarmReport
  int64_t memory_mb = 0;
  std::optional<double> init_ms;
  std::string start;  // plain, zygote or snapshot
};

// What a version's containers get: the INIT header (paths as the container sees them,
// env), the host folders to mount (bundle, layers) and their zygote. Supplied by the
// daemon; the pool completes the zygote's env.
struct ContainerSpec {
  std::string init_header;
  std::vector<sandbox::BindMount> binds;
  std::vector<std::string> env;  // "K=V" over the base environment (PATH, LD_LIBRARY_PATH)
  ZygoteSpec zygote;
};
using ContainerSpecFn = std::function<Result<ContainerSpec>(const FunctionVersion&)>;

// "the container went over its memory limit of 256 MB (peak 256 MB) and was killed"
std::string OomMessage(const Container& c);
// Receives container records: at start (live) and at the end (with the reason).
using ContainerSink = std::function<void(const ContainerRecord&)>;

class Pool {
 public:
  Pool(asio::any_io_executor ex, PoolConfig config, ContainerSpecFn container_spec, ContainerSink sink,
       const Clock* clock);
  ~Pool();

  const PoolConfig& config() const { return config_; }

  // `admitted` is called once, before Acquire first suspends, when the request gets an
  // idle container, a place to start one or a queue position; not when it is refused
  // at once (throttled, or a remembered init failure).
  asio::awaitable<std::variant<Acquired, Refusal>> Acquire(const FunctionVersion& fv,
                                                           std::chrono::steady_clock::time_point deadline,
                                                           const std::function<void()>& admitted);

  // Whether an async run of fv may take a container now without holding up sync
  // requests: none is queued, and a container or a place stays for the next one
  // (for a version of one container: it is free). A remembered init failure: yes
  // (the run fails fast with it).
  bool HasRoomForAsync(const FunctionVersion& fv);

  // Starts min_warm containers of fv and returns once they are warm; an init
  // failure comes back as the Refusal a request would get.
  asio::awaitable<std::variant<PrewarmReport, Refusal>> Prewarm(const FunctionVersion& fv);

  // The versions that should be warm; versions dropped from the list are drained.
  void SetAspired(const std::vector<FunctionVersion>& versions);

  // Begins the periodic reconcile pass.
  void StartReconciling();
  // One reconcile pass over every version.
  void Reconcile();

  std::vector<ContainerInfo> Containers() const;
  // Requests waiting for a container, by function version ("name" -> version -> count).
  std::map<std::string, std::map<int64_t, int64_t>> QueueDepths() const;
  // The node's memory budget taken now: containers' limits and the zygotes' reserve.
  int64_t UsedMemoryMb() const;
  // The zygotes and the snapshot templates.
  std::vector<ForkSourceInfo> ForkSources() const;
  // Stops an idle container now (`DELETE /v1/containers/{id}`): NotFound, or
  // Conflict while it serves a request.
  Status Stop(const std::string& container_id);

  // Kills every container (daemon shutdown); queued requests are refused.
  void Shutdown();

 private:
  friend class Lease;
  std::shared_ptr<Slot> SlotFor(const FunctionVersion& fv);
  void Release(const std::shared_ptr<Slot>& slot, std::shared_ptr<Container> container);
  void Recycle(const std::shared_ptr<Slot>& s, const std::shared_ptr<Container>& c);
  void RetireRecycledIdle(Slot& s);
  // A place (pool/place_ledger.h) and its memory; for the successor of a recycled
  // container, `successor_of` names it.
  bool ClaimPlace(Slot& s, bool may_evict, std::optional<std::string_view> successor_of = std::nullopt);
  void FreePlace(Slot& s, const std::shared_ptr<Container>& c);
  void Evict(Slot& s, const std::shared_ptr<Container>& c, LeaveReason why);
  void ServeWaiters();
  void ReconcileSlot(const std::shared_ptr<Slot>& s);
  // container_starter.cc: a start in its steps (the file's comment lists them).
  asio::awaitable<std::variant<Acquired, Refusal>> StartContainer(const std::shared_ptr<Slot>& s,
                                                                 double queue_ms);
  asio::awaitable<Result<std::shared_ptr<Container>>> MakeProcess(Slot& s, const ContainerSpec& cs,
                                                                  const sandbox::SpawnSpec& spec, std::string& note);
  // A refusal (the container not released yet), or nothing: warm, its init_ms set.
  asio::awaitable<std::optional<Refusal>> RunInit(Slot& s, const ContainerSpec& cs, Container& c, std::string& logs);
  asio::awaitable<std::optional<Refusal>> CheckForkSafety(Slot& s, Container& c, std::string& note);
  asio::awaitable<void> StartInBackground(std::shared_ptr<Slot> s);
  Result<const ContainerSpec*> SpecOf(Slot& s);
  asio::awaitable<Result<std::shared_ptr<Container>>> ForkFromTemplate(Slot& s, const sandbox::SpawnSpec& spec);
  bool WantsTemplate(const Slot& s, const Container& c) const;
  // Called with the template begun (making): asks `c` for its SNAPSHOT.
  asio::awaitable<void> MakeTemplate(std::shared_ptr<Slot> s, std::shared_ptr<Container> c);
  void RetireTemplate(Slot& s, LeaveReason why);
  asio::awaitable<void> ReconcileLoop();
  ContainerRecord RecordOf(const Slot& s, const Container& c) const;

  asio::any_io_executor ex_;
  PoolConfig config_;
  ContainerSpecFn container_spec_;
  ContainerSink sink_;
  const Clock* clock_;
  Zygotes zygotes_;
  MemoryBudget budget_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;  // by "function:version"
  uint64_t next_waiter_ = 0;
  int64_t next_container_ = 1;
  asio::steady_timer reconcile_timer_;
  bool stopping_ = false;
};

}  // namespace kiln::pool
