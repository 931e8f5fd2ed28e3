// /metrics: what the fleet's reports say (stalls, pools, accept waits) and the collector's own
// health, in the Prometheus text exposition format. Counted from reports as they are stored
// by this replica (each replica exports what it ingested; Prometheus sums them).
#ifndef STALLSCOPE_COLLECTOR_METRICS_H_
#define STALLSCOPE_COLLECTOR_METRICS_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "store.h"
#include "workload_metrics.h"

namespace stallscope::collector {

// Series per service/host pair are bounded: the first kMaxSeries pairs get their own, later
// ones are summed under service="other",host="other" (an agent chooses its labels).
class Metrics {
 public:
  static constexpr size_t kMaxSeries = 200;
  // After a commit: only reports stored now (not duplicates) count.
  void OnStored(const IngestBatch& batch, double commit_seconds);
  void OnReceived(uint64_t reports) { Add(reports_received_, reports); }
  void OnRejected(const std::string& reason);
  void OnStoreError();
  void OnStreamOpened();
  void OnStreamClosed();
  void OnDeleted(uint64_t reports) { Add(reports_expired_, reports); }
  // Reports received but not stored (dated outside the accepted window).
  void OnReportsRefused(const std::string& reason, uint64_t n);
  // More lines appended to /metrics when rendering (listeners, TLS reloads).
  void SetExtra(std::function<void(std::string&)> extra) { extra_ = std::move(extra); }
  // Reads the ingest queue when rendering.
  void SetQueueDepth(std::function<uint64_t()> depth) { queue_depth_ = std::move(depth); }

  std::string Render(uint64_t now_ns);

 private:
  using ServiceHost = std::pair<std::string, std::string>;
  static constexpr uint64_t kRateWindowNs = 10'000'000'000;
  void Add(uint64_t& counter, uint64_t n);
  ServiceHost Bounded(const ServiceHost& sh);
  void PruneWindow(uint64_t now_ns);

  std::mutex mu_;
  WorkloadMetrics workloads_;  // stalls, pools, accept waits per workload (shared with the daemon)
  std::map<std::string, std::tuple<std::string, std::string, uint64_t>> agent_drops_;  // agent_id -> service, host, n
  std::map<std::string, uint64_t> rejected_, refused_;
  std::set<ServiceHost> service_hosts_;  // those with series of their own (Bounded)
  uint64_t reports_received_ = 0, reports_stored_ = 0, reports_duplicate_ = 0, reports_expired_ = 0;
  uint64_t batches_ = 0, store_errors_ = 0, streams_ = 0, streams_total_ = 0;
  Histogram commit_seconds_{{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}};
  std::deque<std::pair<uint64_t, uint64_t>> stored_window_;  // (time ns, reports stored then)
  std::function<uint64_t()> queue_depth_;
  std::function<void(std::string&)> extra_;
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_METRICS_H_
