// The daemon's own /metrics (Prometheus text format): reports written, kernel-side drops,
// tracked processes, discovery, the collector stream, memory shedding, CPU and memory.
#ifndef STALLSCOPE_AGENT_DAEMON_DAEMON_METRICS_H_
#define STALLSCOPE_AGENT_DAEMON_DAEMON_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "stallscope_abi.h"

namespace stallscope {

struct DaemonMetrics {
  std::map<std::string, uint64_t> reports_by_kind;
  std::map<std::string, uint64_t> python_stack_reasons;  // stalls without Python frames, by why
  std::array<uint64_t, SS_CNT_MAX> kernel{};
  uint64_t tracked_processes = 0;
  double last_scan_seconds = 0;
  uint64_t discovery_scans = 0, discovered_total = 0, untracked_total = 0, over_limit_total = 0, track_errors = 0;
  uint64_t skipped_not_serving = 0, skipped_by_selectors = 0;
  bool has_collector = false;
  uint64_t collector_acked = 0, collector_dropped = 0, collector_pending = 0, collector_reconnects = 0;
  uint64_t collector_rejected = 0;  // reports the collector refused as unreadable, dropped
  uint64_t rss_bytes = 0, memory_limit_bytes = 0, shed_raised = 0;
  int shed_level = 0;
  double cpu_seconds = 0;
  uint64_t reloads_ok = 0, reloads_failed = 0;
  std::map<std::string, uint64_t> target_file_refusals;  // by reason (target_files/counters.h)
  std::map<std::string, uint64_t> bounded_sheds;         // by kind
};

std::string FormatDaemonMetrics(const DaemonMetrics& m);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_DAEMON_METRICS_H_
