// DESIGN: what GET /metrics says (issue #15), in the Prometheus text format, written
// by prometheus-cpp (Debian's prometheus-cpp-dev: its registry, counters, histograms
// and text serializer).
//
// Two kinds of figures:
// - counted as invocations happen (this is the dispatcher's InvocationObserver):
//   the OpenTelemetry FaaS names (faas_invocations_total, faas_errors_total,
//   faas_timeouts_total, faas_coldstarts_total, faas_invoke_duration_seconds,
//   faas_init_duration_seconds; labels faas_name, faas_version, faas_trigger, and
//   error_type on errors), the OpenFaaS gateway names (gateway_function_invocation_total
//   {function_name,code}, gateway_function_invocation_started, gateway_functions_seconds),
//   and kiln_cold_start_seconds{start} with kiln_cold_start_phase_seconds{phase} (queue,
//   fork, sandbox, init; a cold start's seconds are their sum), kiln_throttled_total;
// - read when scraped (NodeView): containers by state and start mode, their private
//   and shared memory, the pool's queues, the OpenFaaS gateway_service_count, zygotes
//   and their forks, the async queue's depth and oldest age, pipeline runs by status,
//   the node's memory budget, and the front door's traffic (connections accepted,
//   refused over a cap and open, accept errors, answers by status class, bodies
//   refused unread).
// Histograms use the OpenTelemetry buckets, with 0.0005, 0.001 and 0.0025 below them:
// warm runs here take under a millisecond.
//
// Cost: a request finds its series in one hash lookup of this class's own (per
// function version and trigger, made on first use), then increments atomics and
// observes two histograms; no label set is built and no family is searched on the
// warm path (docs/benchmarks.md measures it).
//
// Threads: Started, Ended and Render run on the daemon's I/O thread, which owns the
// series maps; the counters and histograms themselves are prometheus-cpp's (atomics; a
// histogram has a mutex of its own), so Render may read them while they move. Label
// sets of removed functions stay until the daemon restarts, as Prometheus expects of
// counters.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dispatch/invocation_observer.h"

namespace kiln::metrics {

// What the node looks like at a scrape; the daemon fills it from the pool and store.
struct ContainerCount {
  std::string function, state, start;
  int64_t count = 0;
};
struct NodeView {
  std::vector<ContainerCount> containers;
  // Per function: its live containers' private memory and what they share with their
  // zygote or template (docs/API.md, memory), in bytes.
  std::map<std::string, std::pair<int64_t, int64_t>> container_memory;
  std::map<std::string, std::map<int64_t, int64_t>> queued;  // pool queue, by function and version
  std::map<std::string, int64_t> pipeline_runs;  // by status: running, ok, failed, result_too_large
  std::map<std::string, int64_t> zygotes_by_state;
  int64_t zygote_forks = 0;
  int64_t async_queued = 0;
  double async_oldest_age_s = 0;
  int64_t memory_budget_used_bytes = 0, memory_budget_total_bytes = 0;
  // The front door since the daemon started (gateway/traffic_counters.h).
  struct Traffic {
    uint64_t accepted = 0, accept_errors = 0, refused_node_cap = 0, refused_address_cap = 0, open = 0;
    std::array<uint64_t, 5> answered{};  // by status class: 1xx .. 5xx
    uint64_t bodies_refused = 0;
  } traffic;
};

class FaasMetrics final : public dispatch::InvocationObserver {
 public:
  FaasMetrics();

  void Started(const FunctionVersion& fv, const std::string& trigger) override;
  void Ended(const RunRecord& run) override;

  // The text exposition: every counted family, then the node's gauges.
  std::string Render(const NodeView& node) const;

 private:
  // The series one function version and trigger updates on every invocation.
  struct Series {
    prometheus::Counter* invocations;
    prometheus::Histogram* duration;
    prometheus::Counter* gateway_started;
    std::map<int, std::pair<prometheus::Counter*, prometheus::Histogram*>> gateway_by_code;
  };
  Series& SeriesOf(const std::string& function, int64_t version, const std::string& trigger);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& invocations_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& timeouts_;
  prometheus::Family<prometheus::Counter>& coldstarts_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& init_;
  prometheus::Family<prometheus::Histogram>& cold_start_;
  prometheus::Family<prometheus::Histogram>& cold_start_phase_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Family<prometheus::Counter>& gateway_total_;
  prometheus::Family<prometheus::Counter>& gateway_started_;
  prometheus::Family<prometheus::Histogram>& gateway_seconds_;
  std::unordered_map<std::string, Series> series_;  // by function, version and trigger
};

}  // namespace kiln::metrics
