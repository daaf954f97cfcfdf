#include "metrics/faas_metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

namespace kiln::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

const Histogram::BucketBoundaries& Buckets() {
  static const Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
                                                      0.1,    0.25,  0.5,    0.75,  1,    2.5,   5,    7.5, 10};
  return kBuckets;
}

prometheus::Labels FaasLabels(const std::string& function, int64_t version, const std::string& trigger) {
  return {{"faas_name", function}, {"faas_version", std::to_string(version)}, {"faas_trigger", trigger}};
}

// Statuses that never reached a container's handler: not invocations (OTel counts
// what ran), but the gateway still answered them.
bool Refused(RunStatus s) { return s == RunStatus::kThrottled || s == RunStatus::kRejected || s == RunStatus::kExpired; }

}  // namespace

FaasMetrics::FaasMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      invocations_(BuildCounter()
                       .Name("faas_invocations_total")
                       .Help("Invocations that reached a container (OpenTelemetry FaaS: faas.invocations)")
                       .Register(*registry_)),
      errors_(BuildCounter()
                  .Name("faas_errors_total")
                  .Help("Invocations that ended other than ok, by error_type")
                  .Register(*registry_)),
      timeouts_(BuildCounter().Name("faas_timeouts_total").Help("Invocations that ran past their budget").Register(*registry_)),
      coldstarts_(BuildCounter()
                      .Name("faas_coldstarts_total")
                      .Help("Invocations that started a container")
                      .Register(*registry_)),
      duration_(BuildHistogram()
                    .Name("faas_invoke_duration_seconds")
                    .Help("The handler's duration, from the event sent to the result back")
                    .Register(*registry_)),
      init_(BuildHistogram()
                .Name("faas_init_duration_seconds")
                .Help("The init phase of cold starts: the handler's module scope")
                .Register(*registry_)),
      cold_start_(BuildHistogram()
                      .Name("kiln_cold_start_seconds")
                      .Help("A cold start's wait for its container: queue and init, by start mode")
                      .Register(*registry_)),
      cold_start_phase_(BuildHistogram()
                            .Name("kiln_cold_start_phase_seconds")
                            .Help("The phases of cold starts: queue (waiting for a place or a container), fork "
                                  "(making the process), sandbox (containing it), init (the handler's module scope)")
                            .Register(*registry_)),
      throttled_(BuildCounter()
                     .Name("kiln_throttled_total")
                     .Help("Requests answered 429: the pool and its queue were full")
                     .Register(*registry_)),
      gateway_total_(BuildCounter()
                         .Name("gateway_function_invocation_total")
                         .Help("Invocations by answer code (OpenFaaS gateway name)")
                         .Register(*registry_)),
      gateway_started_(BuildCounter()
                           .Name("gateway_function_invocation_started")
                           .Help("Invocations started (OpenFaaS gateway name)")
                           .Register(*registry_)),
      gateway_seconds_(BuildHistogram()
                           .Name("gateway_functions_seconds")
                           .Help("Invocation time as the gateway saw it (OpenFaaS gateway name)")
                           .Register(*registry_)) {}

FaasMetrics::Series& FaasMetrics::SeriesOf(const std::string& function, int64_t version, const std::string& trigger) {
  std::string key = function;
  key.append(1, '\0').append(std::to_string(version)).append(1, '\0').append(trigger);
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  const prometheus::Labels labels = FaasLabels(function, version, trigger);
  Series s{&invocations_.Add(labels), &duration_.Add(labels, Buckets()),
           &gateway_started_.Add({{"function_name", function}}), {}};
  return series_.emplace(std::move(key), std::move(s)).first->second;
}

void FaasMetrics::Started(const FunctionVersion& fv, const std::string& trigger) {
  SeriesOf(fv.function, fv.version, trigger).gateway_started->Increment();
}

void FaasMetrics::Ended(const RunRecord& run) {
  Series& series = SeriesOf(run.function, run.version, run.trigger);
  auto code = series.gateway_by_code.find(run.http_status);
  if (code == series.gateway_by_code.end()) {
    const prometheus::Labels labels = {{"function_name", run.function}, {"code", std::to_string(run.http_status)}};
    code = series.gateway_by_code
               .emplace(run.http_status, std::make_pair(&gateway_total_.Add(labels), &gateway_seconds_.Add(labels, Buckets())))
               .first;
  }
  const double seconds = run.duration_ms / 1000.0;
  code->second.first->Increment();
  code->second.second->Observe(seconds);
  // The rest is rarer than a warm ok run: found by label set.
  if (run.status == RunStatus::kThrottled) {
    throttled_.Add({{"faas_name", run.function}, {"faas_version", std::to_string(run.version)}}).Increment();
  }
  if (Refused(run.status)) return;
  series.invocations->Increment();
  series.duration->Observe(seconds);
  if (run.status == RunStatus::kOk && !run.cold) return;

  const prometheus::Labels labels = FaasLabels(run.function, run.version, run.trigger);
  if (run.status != RunStatus::kOk) {
    prometheus::Labels with_type = labels;
    with_type["error_type"] = run.error_type.empty() ? RunStatusName(run.status) : run.error_type;
    errors_.Add(with_type).Increment();
  }
  if (run.status == RunStatus::kTimeout) timeouts_.Add(labels).Increment();
  if (!run.cold) return;
  coldstarts_.Add(labels).Increment();
  const double init_s = run.init_ms.value_or(0) / 1000.0, queue_s = run.queue_ms / 1000.0;
  if (run.init_ms) {
    init_.Add({{"faas_name", run.function}, {"faas_version", std::to_string(run.version)}}, Buckets()).Observe(init_s);
  }
  const std::string start = run.start.empty() ? "plain" : run.start;
  const double fork_s = run.fork_ms.value_or(0) / 1000.0, sandbox_s = run.sandbox_ms.value_or(0) / 1000.0;
  cold_start_.Add({{"faas_name", run.function}, {"start", start}}, Buckets()).Observe(queue_s + fork_s + sandbox_s + init_s);
  auto phase = [&](const char* name, double seconds) {
    cold_start_phase_.Add({{"phase", name}, {"start", start}}, Buckets()).Observe(seconds);
  };
  phase("queue", queue_s);
  if (run.fork_ms) phase("fork", fork_s);
  if (run.sandbox_ms) phase("sandbox", sandbox_s);
  if (run.init_ms) phase("init", init_s);
}

namespace {

void RenderTraffic(const NodeView::Traffic& t, prometheus::Registry& into) {
  auto count = [](uint64_t n) { return static_cast<double>(n); };
  BuildCounter().Name("kiln_http_connections_accepted_total").Help("Connections accepted").Register(into)
      .Add({}).Increment(count(t.accepted));
  auto& refused = BuildCounter()
                      .Name("kiln_http_connections_refused_total")
                      .Help("Connections closed at once, over the node's or an address's cap")
                      .Register(into);
  refused.Add({{"cap", "node"}}).Increment(count(t.refused_node_cap));
  refused.Add({{"cap", "address"}}).Increment(count(t.refused_address_cap));
  BuildCounter().Name("kiln_http_accept_errors_total").Help("accept() failures (out of descriptors, ...)")
      .Register(into).Add({}).Increment(count(t.accept_errors));
  BuildGauge().Name("kiln_http_connections_open").Help("Connections being served").Register(into)
      .Add({}).Set(count(t.open));
  auto& answered = BuildCounter().Name("kiln_http_requests_total").Help("Answers by status class").Register(into);
  for (int digit = 1; digit <= 5; ++digit) {
    answered.Add({{"code", std::to_string(digit) + "xx"}}).Increment(count(t.answered[static_cast<size_t>(digit - 1)]));
  }
  BuildCounter().Name("kiln_http_bodies_refused_total")
      .Help("Requests refused with their body unread (key, route, size or scope decided from the header)")
      .Register(into).Add({}).Increment(count(t.bodies_refused));
}

}  // namespace

std::string FaasMetrics::Render(const NodeView& node) const {
  // The node's figures are read at the scrape, into a registry of their own.
  prometheus::Registry now;
  auto& containers = BuildGauge().Name("kiln_containers").Help("Live containers by function, state and start mode").Register(now);
  auto& replicas = BuildGauge().Name("gateway_service_count").Help("Live containers per function (OpenFaaS gateway name)").Register(now);
  std::map<std::string, int64_t> per_function;
  for (const ContainerCount& c : node.containers) {
    containers.Add({{"faas_name", c.function}, {"state", c.state}, {"start", c.start}}).Set(static_cast<double>(c.count));
    per_function[c.function] += c.count;
  }
  for (const auto& [function, n] : per_function) replicas.Add({{"function_name", function}}).Set(static_cast<double>(n));
  auto& memory = BuildGauge()
                     .Name("kiln_container_memory_bytes")
                     .Help("Live containers' memory by function: private (what the limit applies to) and shared "
                           "with their zygote or template")
                     .Register(now);
  for (const auto& [function, bytes] : node.container_memory) {
    memory.Add({{"faas_name", function}, {"kind", "private"}}).Set(static_cast<double>(bytes.first));
    memory.Add({{"faas_name", function}, {"kind", "shared"}}).Set(static_cast<double>(bytes.second));
  }
  auto& queued = BuildGauge().Name("kiln_pool_queue_depth").Help("Requests waiting for a container").Register(now);
  for (const auto& [function, versions] : node.queued) {
    for (const auto& [version, n] : versions) {
      queued.Add({{"faas_name", function}, {"faas_version", std::to_string(version)}}).Set(static_cast<double>(n));
    }
  }
  auto& pipeline_runs =
      BuildGauge().Name("kiln_pipeline_runs").Help("Pipeline runs kept (ended ones until retention), by status").Register(now);
  for (const char* status : {"running", "ok", "failed", "result_too_large"}) {
    auto it = node.pipeline_runs.find(status);
    pipeline_runs.Add({{"status", status}}).Set(static_cast<double>(it == node.pipeline_runs.end() ? 0 : it->second));
  }
  auto& zygotes = BuildGauge().Name("kiln_zygotes").Help("Zygotes and snapshot templates by state").Register(now);
  for (const auto& [state, n] : node.zygotes_by_state) zygotes.Add({{"state", state}}).Set(static_cast<double>(n));
  BuildGauge().Name("kiln_zygote_forks").Help("Containers forked by the live zygotes and templates").Register(now)
      .Add({}).Set(static_cast<double>(node.zygote_forks));
  BuildGauge().Name("kiln_async_queue_depth").Help("Async and pipeline runs waiting or leased").Register(now)
      .Add({}).Set(static_cast<double>(node.async_queued));
  BuildGauge().Name("kiln_async_queue_oldest_age_seconds").Help("Age of the oldest queued async run").Register(now)
      .Add({}).Set(node.async_oldest_age_s);
  auto& budget = BuildGauge().Name("kiln_memory_budget_bytes").Help("The node's memory budget for containers and zygotes").Register(now);
  budget.Add({{"kind", "used"}}).Set(static_cast<double>(node.memory_budget_used_bytes));
  budget.Add({{"kind", "total"}}).Set(static_cast<double>(node.memory_budget_total_bytes));
  RenderTraffic(node.traffic, now);

  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (auto& f : now.Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace kiln::metrics
