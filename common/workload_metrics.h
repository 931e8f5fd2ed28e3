// Series an autoscaler and alerts can use, per workload and pool, in the Prometheus text
// format: stalls and their durations, pool saturated time, busy-worker and queued-connection
// gauges, accept-queue waits. Shared by the daemon's /metrics (its node) and the collector's
// (the fleet), so both export the same names and labels.
//
// Labels: service, namespace, workload, container (from the daemon's Report.process; "" for
// `attach`), and pool_kind for pools. Never a PID or a pod name: a restart or another replica
// adds to the same series, and `sum by (workload)` needs no relabelling.
#ifndef STALLSCOPE_COMMON_WORKLOAD_METRICS_H_
#define STALLSCOPE_COMMON_WORKLOAD_METRICS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "stallscope/v1/report.pb.h"

namespace stallscope {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void Observe(double v, uint64_t n = 1);  // n observations of v
  // Appends the _bucket/_sum/_count lines; `labels` is "" or `a="x",b="y"`.
  void Render(const std::string& name, const std::string& labels, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

// `name="value"` with the value escaped as the exposition format requires (backslash, double
// quote, newline), made valid UTF-8 and without control characters first (safe_text.h).
inline constexpr size_t kMaxLabelValueBytes = 1024;
std::string Label(const std::string& name, const std::string& value);
// A sample value: "%.10g", "+Inf".
std::string MetricNumber(double v);
// The # HELP and # TYPE lines.
void MetricHeader(std::string& out, const char* name, const char* type, const char* help);

class WorkloadMetrics {
 public:
  // service, namespace, workload, container.
  using Workload = std::tuple<std::string, std::string, std::string, std::string>;

  // The workload of a report: Report.process's, with `service` when the process has none.
  static Workload WorkloadOf(const v1::ProcessIdentity& process, const std::string& service);

  // Final reports only count (in-progress ones are skipped). `source` tells apart the
  // processes whose pool gauges are summed (agent id and pid); it is never a label.
  void AddStall(const Workload& w, uint64_t duration_ns);
  void AddPoolSaturation(const Workload& w, const v1::PoolSaturation& s);
  void AddPoolUtilization(const Workload& w, const std::string& source, const v1::PoolUtilization& u,
                          uint64_t now_ns);
  void AddSocketLifetime(const Workload& w, const v1::SocketLifetime& s);
  // Any report: dispatches on its kind.
  void Add(const v1::Report& report, const std::string& service, const std::string& source, uint64_t now_ns);

  // Drops pool gauges not refreshed for 5 minutes (a replica gone), then appends every series.
  void Render(uint64_t now_ns, std::string& out);

 private:
  using Pool = std::pair<Workload, std::string>;  // + pool kind: "thread" | "prefork"
  struct PoolGauge {
    double size = 0, busy = 0, queued = 0;
    uint64_t seen_ns = 0;
  };
  static constexpr uint64_t kGaugeStaleNs = 300'000'000'000;
  // Labels come from agents: the first kMaxWorkloads workloads get series of their own, later
  // ones are summed under "other" everywhere, so no sender can grow /metrics without bound.
  static constexpr size_t kMaxWorkloads = 200;
  static constexpr size_t kMaxSourcesPerPool = 4096;
  const Workload& Bounded(const Workload& w);
  std::set<Workload> known_;

  std::map<Workload, uint64_t> stalls_;
  std::map<Workload, Histogram> stall_seconds_;
  std::map<Pool, std::map<std::string, PoolGauge>> pool_gauges_;  // by source
  std::map<Pool, double> saturated_seconds_;
  std::map<Pool, Histogram> queue_wait_;
  std::map<Workload, Histogram> accept_wait_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_COMMON_WORKLOAD_METRICS_H_
