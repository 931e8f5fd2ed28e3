#include "daemon/daemon_metrics.h"

#include "absl/strings/str_cat.h"
#include "workload_metrics.h"

namespace stallscope {
namespace {

void Metric(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

template <typename T>
void Sample(std::string& out, const char* name, T value, const std::string& labels = "") {
  absl::StrAppend(&out, name, labels.empty() ? "" : "{" + labels + "}", " ", value, "\n");
}

}  // namespace

std::string FormatDaemonMetrics(const DaemonMetrics& m) {
  std::string out;
  Metric(out, "stallscope_agent_reports_total", "counter", "Reports written, by kind (loop_block, process_event, ...).");
  for (const auto& [kind, n] : m.reports_by_kind) Sample(out, "stallscope_agent_reports_total", n, "kind=\"" + kind + "\"");
  Metric(out, "stallscope_agent_python_stacks_missing_total", "counter",
         "Stalls reported without Python frames, by reason (e.g. \"CPython 3.15.0 layout unknown\").");
  for (const auto& [reason, n] : m.python_stack_reasons) {
    Sample(out, "stallscope_agent_python_stacks_missing_total", n, Label("reason", reason));
  }
  Metric(out, "stallscope_agent_kernel_events_lost_total", "counter",
         "Kernel-side losses: ring buffer full, thread or process map full, stacks not captured.");
  Sample(out, "stallscope_agent_kernel_events_lost_total", m.kernel[SS_CNT_RINGBUF_FULL], "reason=\"ringbuf_full\"");
  Sample(out, "stallscope_agent_kernel_events_lost_total", m.kernel[SS_CNT_THREAD_MAP_FULL], "reason=\"thread_map_full\"");
  Sample(out, "stallscope_agent_kernel_events_lost_total", m.kernel[SS_CNT_TRACKED_MAP_FULL], "reason=\"process_map_full\"");
  Sample(out, "stallscope_agent_kernel_events_lost_total", m.kernel[SS_CNT_STACK_FAILED], "reason=\"stack_failed\"");
  Metric(out, "stallscope_agent_kernel_stalls_emitted_total", "counter", "Stalls the kernel sent through the ring buffer.");
  Sample(out, "stallscope_agent_kernel_stalls_emitted_total", m.kernel[SS_CNT_STALLS_EMITTED]);
  Metric(out, "stallscope_agent_switch_ins_unseen_total", "counter",
         "Tracked threads that ran again without a sched_switch event reaching stallscope (on-CPU time taken from the scheduler's clock).");
  Sample(out, "stallscope_agent_switch_ins_unseen_total", m.kernel[SS_CNT_SWITCH_IN_UNSEEN]);
  Metric(out, "stallscope_agent_wait_uprobe_hits_total", "counter",
         "--syscall-hooks sched: loop waits seen by a uprobe armed for a busy loop.");
  Sample(out, "stallscope_agent_wait_uprobe_hits_total", m.kernel[SS_CNT_WAIT_UPROBE_HITS]);
  Metric(out, "stallscope_agent_wait_uprobe_hits_untracked_total", "counter",
         "--syscall-hooks sched: uprobe hits in processes not tracked (must stay 0: each uprobe is attached to one process).");
  Sample(out, "stallscope_agent_wait_uprobe_hits_untracked_total", m.kernel[SS_CNT_WAIT_UPROBE_HITS_UNTRACKED]);
  Metric(out, "stallscope_agent_tracked_processes", "gauge", "Processes tracked now (discovered servers and their workers).");
  Sample(out, "stallscope_agent_tracked_processes", m.tracked_processes);
  Metric(out, "stallscope_agent_discovery_scans_total", "counter", "/proc scans for new servers.");
  Sample(out, "stallscope_agent_discovery_scans_total", m.discovery_scans);
  Metric(out, "stallscope_agent_discovery_last_scan_seconds", "gauge", "How long the last /proc scan took.");
  Sample(out, "stallscope_agent_discovery_last_scan_seconds", m.last_scan_seconds);
  Metric(out, "stallscope_agent_discovered_processes_total", "counter", "Processes discovery started tracking.");
  Sample(out, "stallscope_agent_discovered_processes_total", m.discovered_total);
  Metric(out, "stallscope_agent_undiscovered_processes_total", "counter",
         "Tracked processes dropped because reloaded selectors no longer pick them.");
  Sample(out, "stallscope_agent_undiscovered_processes_total", m.untracked_total);
  Metric(out, "stallscope_agent_processes_over_limit_total", "counter",
         "Matching processes not tracked: max_processes reached or discovery paused near the memory limit.");
  Sample(out, "stallscope_agent_processes_over_limit_total", m.over_limit_total);
  Metric(out, "stallscope_agent_python_not_serving_total", "counter",
         "Python processes not tracked: no listening TCP or unix socket (each counted once).");
  Sample(out, "stallscope_agent_python_not_serving_total", m.skipped_not_serving);
  Metric(out, "stallscope_agent_python_not_selected_total", "counter",
         "Python servers not tracked: the selectors do not pick them (each counted once).");
  Sample(out, "stallscope_agent_python_not_selected_total", m.skipped_by_selectors);
  Metric(out, "stallscope_agent_track_errors_total", "counter", "Processes the kernel side refused to track.");
  Sample(out, "stallscope_agent_track_errors_total", m.track_errors);
  if (m.has_collector) {
    Metric(out, "stallscope_agent_collector_acked_total", "counter", "Reports the collector acknowledged.");
    Sample(out, "stallscope_agent_collector_acked_total", m.collector_acked);
    Metric(out, "stallscope_agent_collector_dropped_total", "counter", "Reports dropped because the send buffer was full.");
    Sample(out, "stallscope_agent_collector_dropped_total", m.collector_dropped);
    Metric(out, "stallscope_agent_collector_pending_reports", "gauge", "Reports buffered, not yet acknowledged.");
    Sample(out, "stallscope_agent_collector_pending_reports", m.collector_pending);
    Metric(out, "stallscope_agent_collector_reconnects_total", "counter", "Collector streams reopened.");
    Sample(out, "stallscope_agent_collector_reconnects_total", m.collector_reconnects);
    Metric(out, "stallscope_agent_collector_rejected_total", "counter",
           "Reports the collector refused as unreadable (not a report, or strings not UTF-8): dropped, not resent.");
    Sample(out, "stallscope_agent_collector_rejected_total", m.collector_rejected);
  }
  Metric(out, "stallscope_agent_memory_limit_bytes", "gauge", "The configured memory limit (memory_limit_mb).");
  Sample(out, "stallscope_agent_memory_limit_bytes", m.memory_limit_bytes);
  Metric(out, "stallscope_agent_memory_shed_level", "gauge",
         "0 full detail, 1 caches dropped, 2 no Python stacks, 3 no new processes.");
  Sample(out, "stallscope_agent_memory_shed_level", m.shed_level);
  Metric(out, "stallscope_agent_memory_shed_total", "counter", "Times the agent raised its shedding level.");
  Sample(out, "stallscope_agent_memory_shed_total", m.shed_raised);
  Metric(out, "stallscope_agent_config_reloads_total", "counter", "SIGHUP config reloads, by result.");
  Sample(out, "stallscope_agent_config_reloads_total", m.reloads_ok, "result=\"ok\"");
  Sample(out, "stallscope_agent_config_reloads_total", m.reloads_failed, "result=\"error\"");
  Metric(out, "stallscope_agent_target_file_refusals_total", "counter",
         "Target-controlled files the agent refused to open, by reason (docs/security.md).");
  for (const auto& [reason, n] : m.target_file_refusals)
    Sample(out, "stallscope_agent_target_file_refusals_total", n, "reason=\"" + reason + "\"");
  Metric(out, "stallscope_agent_bounded_sheds_total", "counter",
         "What the agent dropped to stay bounded in memory and time, by kind.");
  for (const auto& [what, n] : m.bounded_sheds)
    Sample(out, "stallscope_agent_bounded_sheds_total", n, "what=\"" + what + "\"");
  Metric(out, "process_cpu_seconds_total", "counter", "User and system CPU time of the agent.");
  Sample(out, "process_cpu_seconds_total", m.cpu_seconds);
  Metric(out, "process_resident_memory_bytes", "gauge", "Resident memory of the agent.");
  Sample(out, "process_resident_memory_bytes", m.rss_bytes);
  return out;
}

}  // namespace stallscope
