// GET /metrics: the counted families of metrics/faas_metrics.h and the node as it is
// now (containers, zygotes, the async queue, the memory budget).
#include <map>
#include <tuple>

#include "common/time_util.h"
#include "control/control_api.h"

namespace kiln::control {

Response ControlApi::Metrics(unsigned version) {
  metrics::NodeView node;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> containers;
  for (const pool::ContainerInfo& c : d_.pool->Containers()) {
    ++containers[{c.function, pool::ContainerStateName(c.state), c.start.empty() ? "plain" : c.start}];
    auto& [private_bytes, shared_bytes] = node.container_memory[c.function];
    private_bytes += static_cast<int64_t>(c.private_mb.value_or(0) * (1 << 20));
    shared_bytes += static_cast<int64_t>(c.shared_mb.value_or(0) * (1 << 20));
  }
  node.queued = d_.pool->QueueDepths();
  if (auto by_status = d_.store->CountPipelineRunsByStatus(); by_status.ok()) node.pipeline_runs = *by_status;
  for (const auto& [key, n] : containers) {
    node.containers.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
  }
  for (const pool::ForkSourceInfo& z : d_.pool->ForkSources()) {
    ++node.zygotes_by_state[z.state];
    node.zygote_forks += z.forks;
  }
  if (auto depth = d_.store->QueueDepth(); depth.ok()) {
    node.async_queued = depth->first;
    if (depth->second) node.async_oldest_age_s = static_cast<double>(NowEpochMs() - *depth->second) / 1000.0;
  }
  node.memory_budget_used_bytes = d_.pool->UsedMemoryMb() << 20;
  node.memory_budget_total_bytes = d_.pool->config().memory_budget_mb << 20;
  using Refused = gateway::TrafficCounters::Refused;
  const gateway::TrafficCounters& t = *d_.traffic;
  node.traffic = {t.accepted(), t.accept_errors(), t.refused(Refused::kNodeCap), t.refused(Refused::kAddressCap),
                  t.open(), {}, t.bodies_refused()};
  for (int digit = 1; digit <= 5; ++digit) node.traffic.answered[static_cast<size_t>(digit - 1)] = t.answered(digit);
  Response res{gateway::http::status::ok, version};
  res.set(gateway::http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.keep_alive(true);
  res.body() = d_.metrics->Render(node);
  res.prepare_payload();
  return res;
}

}  // namespace kiln::control
