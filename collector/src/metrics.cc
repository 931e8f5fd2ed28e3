#include "metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "report_index.h"
#include "workload_metrics.h"

namespace stallscope::collector {
namespace {

std::string ServiceHostLabels(const std::pair<std::string, std::string>& sh) {
  return absl::StrCat(Label("service", sh.first), ",", Label("host", sh.second));
}

}  // namespace

void Metrics::Add(uint64_t& counter, uint64_t n) {
  std::lock_guard lock(mu_);
  counter += n;
}

void Metrics::OnRejected(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++rejected_[reason];
}

void Metrics::OnStoreError() { Add(store_errors_, 1); }

void Metrics::OnReportsRefused(const std::string& reason, uint64_t n) {
  std::lock_guard lock(mu_);
  refused_[reason] += n;
}

Metrics::ServiceHost Metrics::Bounded(const ServiceHost& sh) {
  if (service_hosts_.contains(sh) || service_hosts_.size() < kMaxSeries) {
    service_hosts_.insert(sh);
    return sh;
  }
  return {"other", "other"};
}

void Metrics::OnStreamOpened() {
  std::lock_guard lock(mu_);
  ++streams_;
  ++streams_total_;
}

void Metrics::OnStreamClosed() {
  std::lock_guard lock(mu_);
  --streams_;
}

void Metrics::OnStored(const IngestBatch& batch, double commit_seconds) {
  ServiceHost agent_sh{batch.identity.service(), batch.identity.host()};
  std::lock_guard lock(mu_);
  ++batches_;
  commit_seconds_.Observe(commit_seconds);
  if (batch.denied) return;
  // Bounded as the series are: agents past the cap share one entry.
  std::string drops_key = agent_drops_.count(batch.identity.agent_id()) != 0 || agent_drops_.size() < kMaxSeries * 10
                              ? batch.identity.agent_id()
                              : "other";
  ServiceHost drops_sh = Bounded(agent_sh);
  agent_drops_[drops_key] = {drops_sh.first, drops_sh.second, batch.dropped_total};
  uint64_t stored_now = 0;
  for (const IngestRow& row : batch.rows) {
    if (row.refused) continue;
    if (!row.stored) {
      ++reports_duplicate_;
      continue;
    }
    ++reports_stored_;
    ++stored_now;
    const ReportIndex& x = row.index;
    if (!x.final) continue;
    // A daemon's reports name their own service and workload.
    WorkloadMetrics::Workload w{ServiceOf(x, agent_sh.first), x.pod_namespace, x.workload, x.container};
    if (x.kind == "loop_block") {
      workloads_.AddStall(w, x.duration_ns);
    } else if (x.kind == "pool_saturation" || x.kind == "pool_utilization" || x.kind == "socket_lifetime") {
      // Rare kinds: read from the message itself (stalls, the frequent kind, from the index).
      v1::Report report;
      if (!report.ParseFromString(row.body)) continue;
      if (report.has_pool_saturation()) workloads_.AddPoolSaturation(w, report.pool_saturation());
      if (report.has_pool_utilization())
        workloads_.AddPoolUtilization(w, batch.identity.agent_id(), report.pool_utilization(), batch.received_ns);
      if (report.has_socket_lifetime()) workloads_.AddSocketLifetime(w, report.socket_lifetime());
    }
  }
  stored_window_.emplace_back(batch.received_ns, stored_now);
  PruneWindow(batch.received_ns);
}

void Metrics::PruneWindow(uint64_t now_ns) {
  while (!stored_window_.empty() && stored_window_.front().first + kRateWindowNs < now_ns) stored_window_.pop_front();
}

std::string Metrics::Render(uint64_t now_ns) {
  uint64_t queued = queue_depth_ ? queue_depth_() : 0;
  std::lock_guard lock(mu_);
  std::string out;
  workloads_.Render(now_ns, out);

  std::map<ServiceHost, uint64_t> drops;
  for (const auto& [agent, v] : agent_drops_) drops[{std::get<0>(v), std::get<1>(v)}] += std::get<2>(v);
  MetricHeader(out, "stallscope_agent_reports_dropped_total", "counter",
         "Reports agents dropped because their buffer to the collector was full.");
  for (const auto& [sh, n] : drops)
    absl::StrAppend(&out, "stallscope_agent_reports_dropped_total{", ServiceHostLabels(sh), "} ", n, "\n");

  MetricHeader(out, "stallscope_collector_streams", "gauge", "Agent streams open now.");
  absl::StrAppend(&out, "stallscope_collector_streams ", streams_, "\n");
  MetricHeader(out, "stallscope_collector_streams_opened_total", "counter", "Agent streams opened.");
  absl::StrAppend(&out, "stallscope_collector_streams_opened_total ", streams_total_, "\n");
  MetricHeader(out, "stallscope_collector_reports_received_total", "counter", "Reports received from agents.");
  absl::StrAppend(&out, "stallscope_collector_reports_received_total ", reports_received_, "\n");
  MetricHeader(out, "stallscope_collector_reports_stored_total", "counter", "Reports committed to the store.");
  absl::StrAppend(&out, "stallscope_collector_reports_stored_total ", reports_stored_, "\n");
  MetricHeader(out, "stallscope_collector_reports_duplicate_total", "counter",
         "Resent reports already stored (skipped).");
  absl::StrAppend(&out, "stallscope_collector_reports_duplicate_total ", reports_duplicate_, "\n");
  MetricHeader(out, "stallscope_collector_reports_expired_total", "counter", "Reports deleted by retention.");
  absl::StrAppend(&out, "stallscope_collector_reports_expired_total ", reports_expired_, "\n");
  // Ingest rate over the last 10 s, for dashboards without PromQL.
  PruneWindow(now_ns);
  uint64_t recent = 0;
  for (const auto& [t, n] : stored_window_) recent += n;
  double rate = recent / (kRateWindowNs / 1e9);
  MetricHeader(out, "stallscope_collector_ingest_reports_per_second", "gauge", "Reports stored per second, last 10 s.");
  absl::StrAppend(&out, "stallscope_collector_ingest_reports_per_second ", MetricNumber(rate), "\n");
  MetricHeader(out, "stallscope_collector_ingest_queue_reports", "gauge", "Reports received and waiting for a commit.");
  absl::StrAppend(&out, "stallscope_collector_ingest_queue_reports ", queued, "\n");
  MetricHeader(out, "stallscope_collector_batches_committed_total", "counter", "Agent batches committed.");
  absl::StrAppend(&out, "stallscope_collector_batches_committed_total ", batches_, "\n");
  MetricHeader(out, "stallscope_collector_batches_rejected_total", "counter", "Agent messages rejected, by reason.");
  for (const auto& [reason, n] : rejected_)
    absl::StrAppend(&out, "stallscope_collector_batches_rejected_total{", Label("reason", reason), "} ", n, "\n");
  MetricHeader(out, "stallscope_collector_reports_refused_total", "counter",
               "Reports received and not stored, by reason (time_out_of_range: dated before now - retention or "
               "after now + 10 min).");
  for (const auto& [reason, n] : refused_)
    absl::StrAppend(&out, "stallscope_collector_reports_refused_total{", Label("reason", reason), "} ", n, "\n");
  MetricHeader(out, "stallscope_collector_store_errors_total", "counter", "Failed store transactions.");
  absl::StrAppend(&out, "stallscope_collector_store_errors_total ", store_errors_, "\n");
  MetricHeader(out, "stallscope_collector_commit_duration_seconds", "histogram", "Store transaction commit time.");
  commit_seconds_.Render("stallscope_collector_commit_duration_seconds", "", out);
  if (extra_) extra_(out);
  return out;
}

}  // namespace stallscope::collector
