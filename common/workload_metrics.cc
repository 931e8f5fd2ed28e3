#include "workload_metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "safe_text.h"

namespace stallscope {
namespace {

const std::vector<double> kStallBounds = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const std::vector<double> kWaitBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

std::string WorkloadLabels(const WorkloadMetrics::Workload& w) {
  return absl::StrCat(Label("service", std::get<0>(w)), ",", Label("namespace", std::get<1>(w)), ",",
                      Label("workload", std::get<2>(w)), ",", Label("container", std::get<3>(w)));
}

const char* PoolKindName(v1::PoolKind kind) {
  switch (kind) {
    case v1::THREAD_POOL: return "thread";
    case v1::PREFORK: return "prefork";
    default: return "unknown";
  }
}

}  // namespace

void Histogram::Observe(double v, uint64_t n) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (v <= bounds_[i]) {
      counts_[i] += n;
      break;
    }
  }
  count_ += n;
  sum_ += v * n;
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string& out) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, name, "_bucket{", labels, sep, "le=\"", MetricNumber(bounds_[i]), "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{", labels, sep, "le=\"+Inf\"} ", count_, "\n");
  std::string braces = labels.empty() ? "" : absl::StrCat("{", labels, "}");
  absl::StrAppend(&out, name, "_sum", braces, " ", MetricNumber(sum_), "\n");
  absl::StrAppend(&out, name, "_count", braces, " ", count_, "\n");
}

std::string Label(const std::string& name, const std::string& value) {
  std::string escaped;
  escaped.reserve(value.size());
  // Valid UTF-8 and one line whatever the value (Prometheus refuses the whole page otherwise).
  for (char c : SafeText(value, kMaxLabelValueBytes)) {
    if (c == '\\') escaped += "\\\\";
    else if (c == '"') escaped += "\\\"";
    else if (c == '\n') escaped += "\\n";
    else escaped.push_back(c);
  }
  return absl::StrCat(name, "=\"", escaped, "\"");
}

std::string MetricNumber(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.10g", v);
}

void MetricHeader(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

WorkloadMetrics::Workload WorkloadMetrics::WorkloadOf(const v1::ProcessIdentity& p, const std::string& service) {
  return {p.service().empty() ? service : p.service(), p.pod_namespace(), p.workload(), p.container()};
}

const WorkloadMetrics::Workload& WorkloadMetrics::Bounded(const Workload& w) {
  static const Workload kOther{"other", "other", "other", "other"};
  if (known_.contains(w)) return w;
  if (known_.size() >= kMaxWorkloads) return kOther;
  known_.insert(w);
  return w;
}

void WorkloadMetrics::AddStall(const Workload& unbounded, uint64_t duration_ns) {
  const Workload& w = Bounded(unbounded);
  ++stalls_[w];
  stall_seconds_.try_emplace(w, kStallBounds).first->second.Observe(duration_ns / 1e9);
}

void WorkloadMetrics::AddPoolSaturation(const Workload& unbounded, const v1::PoolSaturation& s) {
  if (s.in_progress()) return;
  const Workload& w = Bounded(unbounded);
  Pool pool{w, PoolKindName(s.kind())};
  saturated_seconds_[pool] += s.duration_ns() / 1e9;
  // Each saturation carries its accepted connections and their mean wait in the accept queue:
  // counted as that many waits of the mean.
  if (s.accepted() > 0)
    queue_wait_.try_emplace(pool, kWaitBounds).first->second.Observe(s.accept_wait_mean_ns() / 1e9, s.accepted());
}

void WorkloadMetrics::AddPoolUtilization(const Workload& unbounded, const std::string& source,
                                         const v1::PoolUtilization& u, uint64_t now_ns) {
  auto& sources = pool_gauges_[{Bounded(unbounded), PoolKindName(u.kind())}];
  std::string key = absl::StrCat(source, "/", u.pid());
  // Sources are summed, never labels; still bounded, as agents choose them.
  if (!sources.contains(key) && sources.size() >= kMaxSourcesPerPool) return;
  PoolGauge& g = sources[key];
  g.size = u.size();
  g.busy = u.busy();
  g.queued = u.max_queued();
  g.seen_ns = now_ns;
}

void WorkloadMetrics::AddSocketLifetime(const Workload& unbounded, const v1::SocketLifetime& s) {
  if (!s.accepted()) return;  // outbound, or closed before accept(): no accept-queue wait
  const Workload& w = Bounded(unbounded);
  accept_wait_.try_emplace(w, kWaitBounds).first->second.Observe(s.accept_wait_ns() / 1e9);
}

void WorkloadMetrics::Add(const v1::Report& r, const std::string& service, const std::string& source,
                          uint64_t now_ns) {
  Workload w = WorkloadOf(r.process(), service);
  if (r.has_loop_block() && !r.loop_block().in_progress()) AddStall(w, r.loop_block().duration_ns());
  if (r.has_pool_saturation()) AddPoolSaturation(w, r.pool_saturation());
  if (r.has_pool_utilization()) AddPoolUtilization(w, source, r.pool_utilization(), now_ns);
  if (r.has_socket_lifetime()) AddSocketLifetime(w, r.socket_lifetime());
}

void WorkloadMetrics::Render(uint64_t now_ns, std::string& out) {
  MetricHeader(out, "stallscope_stalls_total", "counter", "Event-loop stalls (final loop_block reports) by workload.");
  for (const auto& [w, n] : stalls_) absl::StrAppend(&out, "stallscope_stalls_total{", WorkloadLabels(w), "} ", n, "\n");
  MetricHeader(out, "stallscope_stall_duration_seconds", "histogram", "How long event loops stalled.");
  for (const auto& [w, h] : stall_seconds_) h.Render("stallscope_stall_duration_seconds", WorkloadLabels(w), out);

  auto labels = [](const Pool& p) { return absl::StrCat(WorkloadLabels(p.first), ",", Label("pool_kind", p.second)); };
  std::map<Pool, PoolGauge> sums;
  for (auto it = pool_gauges_.begin(); it != pool_gauges_.end();) {
    std::erase_if(it->second, [&](const auto& s) { return s.second.seen_ns + kGaugeStaleNs < now_ns; });
    if (it->second.empty()) {
      it = pool_gauges_.erase(it);
      continue;
    }
    PoolGauge& sum = sums[it->first];
    for (const auto& [source, g] : it->second) {
      sum.size += g.size;
      sum.busy += g.busy;
      sum.queued += g.queued;
    }
    ++it;
  }
  auto gauge = [&](const char* name, const char* help, double PoolGauge::*field) {
    MetricHeader(out, name, "gauge", help);
    for (const auto& [p, g] : sums) absl::StrAppend(&out, name, "{", labels(p), "} ", MetricNumber(g.*field), "\n");
  };
  gauge("stallscope_pool_size", "Pool members, summed over the workload's processes (latest pool_utilization).",
        &PoolGauge::size);
  gauge("stallscope_pool_busy_workers", "Mean busy pool members over the last utilization interval, summed.",
        &PoolGauge::busy);
  gauge("stallscope_pool_queued_connections", "Accept-queue peak over the last utilization interval, summed.",
        &PoolGauge::queued);
  MetricHeader(out, "stallscope_pool_saturated_seconds_total", "counter",
               "Time pools spent with every member busy (pool_saturation reports).");
  for (const auto& [p, v] : saturated_seconds_)
    absl::StrAppend(&out, "stallscope_pool_saturated_seconds_total{", labels(p), "} ", MetricNumber(v), "\n");
  MetricHeader(out, "stallscope_pool_queue_wait_seconds", "histogram",
               "Accept-queue waits of connections accepted while the pool was saturated (each at its saturation's "
               "mean).");
  for (const auto& [p, h] : queue_wait_) h.Render("stallscope_pool_queue_wait_seconds", labels(p), out);
  MetricHeader(out, "stallscope_accept_wait_seconds", "histogram",
               "Time connections waited in the accept queue (socket_lifetime reports, --sockets).");
  for (const auto& [w, h] : accept_wait_) h.Render("stallscope_accept_wait_seconds", WorkloadLabels(w), out);
}

}  // namespace stallscope
