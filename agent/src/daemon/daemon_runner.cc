#include "daemon/daemon_runner.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "attach/attach_runner.h"
#include "cli/exit_codes.h"
#include "core/clock.h"
#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "target_files/counters.h"
#include "daemon/discovery.h"
#include "daemon/identity_writer.h"
#include "daemon/memory_guard.h"
#include "daemon/ops_server.h"
#include "output/log_writer.h"
#include "output_file.h"
#include "output/proto_json.h"
#include "credential_file.h"
#include "output/safe_text_writer.h"
#include "listen_check.h"
#include "daemon/process_identity.h"
#include "stream/agent_identity.h"
#include "stream/collector_client.h"
#include "stream/streaming_writer.h"
#include "workload_metrics.h"

namespace stallscope {
namespace {

volatile sig_atomic_t g_reload_requested = 0;

void OnHangup(int) { g_reload_requested = 1; }

int Fail(const std::string& message, int code) {
  fprintf(stderr, "stallscope: %s\n", message.c_str());
  return code;
}

// The file's settings with the command line's on top.
absl::StatusOr<DaemonConfig> LoadConfig(const DaemonOptions& o) {
  absl::StatusOr<DaemonConfig> config = o.config_path.empty() ? DaemonConfig{} : LoadDaemonConfig(o.config_path);
  if (!config.ok()) return config;
  if (o.collector) config->collector = *o.collector;
  if (o.listen) config->listen = *o.listen == "off" ? "" : *o.listen;
  if (o.output) config->output = *o.output;
  if (o.format) config->format = *o.format;
  if (o.collector_ca) config->collector_ca = *o.collector_ca;
  if (o.tls_cert) config->tls_cert = *o.tls_cert;
  if (o.tls_key) config->tls_key = *o.tls_key;
  if (o.collector_token_file) config->collector_token_file = *o.collector_token_file;
  if (o.listen_token_file) config->listen_token_file = *o.listen_token_file;
  if (o.insecure) config->insecure = true;
  if (o.listen_insecure) config->listen_insecure = true;
  return config;
}

CollectorAuth AuthOf(const DaemonConfig& c) {
  return {c.collector_ca, c.tls_cert, c.tls_key, c.collector_token_file, c.insecure};
}

// About 2 KiB per buffered report: the send buffer may use a quarter of the memory limit.
constexpr uint64_t kCacheDropIntervalNs = 30'000'000'000ULL;
constexpr size_t kMaxExecQueue = 4096;

size_t CollectorBufferFor(const DaemonConfig& c) {
  if (c.collector_buffer) return c.collector_buffer;
  return std::max<size_t>(1000, c.memory_limit_mb * 1024 * 1024 / 4 / 2048);
}

class Daemon {
 public:
  Daemon(const DaemonOptions& options, DaemonConfig config, SelectorSet selectors, ServiceRule rule)
      : options_(options),
        config_(std::move(config)),
        identity_(config_.host_root, std::move(rule)),
        discovery_(std::move(selectors), &identity_),
        guard_(config_.memory_limit_mb << 20) {}

  int Run() {
    // Events always go somewhere: stdout (kubectl logs, journald) unless --output names a file.
    // A file: created 0600, never through a symlink or another user's file (common/output_file.h).
    std::unique_ptr<FILE, int (*)(FILE*)> file(nullptr, fclose);
    log_ = stdout;
    bool to_stdout = config_.output.empty() || config_.output == "-";
    if (!to_stdout) {
      absl::StatusOr<FILE*> opened = OpenOutputStream(config_.output);
      if (!opened.ok()) return Fail(std::string(opened.status().message()), kExitOutput);
      file.reset(*opened);
      log_ = file.get();
    }
    // Unset: log lines on stdout, JSON lines in a file (what programs read).
    json_ = config_.format.empty() ? !to_stdout : config_.format == "json";
    std::unique_ptr<ReportWriter> writer = json_ ? MakeJsonWriter(log_) : MakeLogWriter(log_, false);
    if (!config_.collector.empty()) {
      CollectorClient::Options stream_options;
      stream_options.buffer_reports = CollectorBufferFor(config_);
      stream_options.auth = AuthOf(config_);
      if (absl::Status st = CheckCollectorAuth(stream_options.auth); !st.ok())
        return Fail(std::string(st.message()), absl::IsPermissionDenied(st) ? net::kExitUnsafeCredentials : kExitConfig);
      collector_ = std::make_unique<CollectorClient>(config_.collector, BuildAgentIdentity("", getpid()), stream_options);
      collector_->Start();
      writer = MakeStreamingWriter(std::move(writer), collector_.get());
    }
    writer = MakeSafeTextWriter(std::move(writer));  // no raw target text reaches any output
    auto identity_writer = std::make_unique<IdentityWriter>(
        std::move(writer), &identity_, [this](v1::AgentStats& s) { AddDaemonStats(s); }, &workload_metrics_);
    writer_ = identity_writer.get();

    if (!config_.listen.empty()) {
      auto port = ops_.Start(config_.listen, config_.listen_token_file, config_.listen_insecure);
      if (!port.ok())
        return Fail(std::string(port.status().message()),
                    absl::IsAlreadyExists(port.status())      ? net::kExitAddressInUse
                    : absl::IsPermissionDenied(port.status()) ? net::kExitUnsafeCredentials
                                                              : kExitConfig);
      ops_port_ = *port;
    }
    struct sigaction sa {};
    sa.sa_handler = OnHangup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, nullptr);  // no SA_RESTART: the poll wakes up and the reload is prompt

    AttachOptions trace;
    trace.block_threshold_ms = config_.block_threshold_ms;
    trace.max_threads = config_.max_threads;
    trace.max_processes = config_.max_processes;
    trace.format = OutputFormat::kJson;
    trace.verbose = options_.verbose;
    trace.output_path = to_stdout ? "" : config_.output;  // names it if a write fails
    discovery_.SetVerbose(options_.verbose);
    TraceHooks hooks;
    hooks.run_without_processes = true;
    hooks.on_tick = [this](TraceControl& control, uint64_t now) { Tick(control, now); };
    hooks.on_untracked_exec = [this](pid_t pid) {
      if (exec_queue_.size() < kMaxExecQueue) exec_queue_.push_back(pid);  // beyond: the next scan finds them
    };
    int rc = RunTrace(trace, identity_writer.get(), {}, hooks);
    ops_.Stop();
    if (absl::Status st = CloseOutputStream(file.release(), config_.output); !st.ok() && rc == kExitOk)
      return Fail(std::string(st.message()), kExitOutput);
    return rc;
  }

 private:
  void Tick(TraceControl& control, uint64_t now) {
    if (g_reload_requested) {
      g_reload_requested = 0;
      Reload();
    }
    ShedLevel before = guard_.level();
    ShedLevel level = guard_.Update(SelfRssBytes());
    if (level != before) ApplyShedLevel(control, before, level);
    // Caches regrow while the level holds: drop them again now and then.
    if (level >= ShedLevel::kDropCaches && now >= next_cache_drop_ns_) {
      control.DropCaches();
      next_cache_drop_ns_ = now + kCacheDropIntervalNs;
    }
    if (now >= next_stats_ns_) {
      // A daemon runs for weeks: its counters reach the collector every minute, not only at exit.
      if (next_stats_ns_ != 0) WriteStats(control);
      next_stats_ns_ = now + static_cast<uint64_t>(config_.stats_interval_s) * 1'000'000'000;
    }
    for (pid_t pid : exec_queue_)
      discovery_.Consider(control, pid, config_.max_processes, level >= ShedLevel::kNoNewProcesses, now);
    exec_queue_.clear();
    if (now < next_scan_ns_) return;
    next_scan_ns_ = now + static_cast<uint64_t>(config_.scan_interval_ms) * 1'000'000;
    auto scan_start = std::chrono::steady_clock::now();
    discovery_.Scan(control, config_.max_processes, level >= ShedLevel::kNoNewProcesses, now);
    last_scan_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - scan_start).count();
    if (!ready_) {
      ready_ = true;
      std::string ops_host = config_.listen.substr(0, config_.listen.rfind(':'));
      std::string ops = ops_port_ ? absl::StrCat("; /healthz /readyz /metrics on port ", ops_port_, " of ",
                                                 ops_host.empty() ? "every address" : ops_host)
                                  : "";
      fprintf(stderr, "stallscope: daemon ready: tracking %zu processes%s%s\n", control.Tracked().size(), ops.c_str(),
              config_.collector.empty() ? "" : absl::StrCat("; streaming to ", config_.collector).c_str());
      LogStartup(control);
    }
    PublishMetrics(control);
  }

  // The first line of the log: what is tracked, what was skipped and why.
  void LogStartup(TraceControl& control) {
    std::vector<pid_t> tracked = control.Tracked();
    std::vector<std::string> names;
    for (pid_t pid : tracked) {
      if (names.size() == kStartupNames) break;
      const v1::ProcessIdentity& id = identity_.For(pid);
      std::string name = id.service().empty() ? "?" : id.service();
      if (!id.server().empty()) absl::StrAppend(&name, " (", id.server(), ")");
      names.push_back(absl::StrCat(name, " pid ", pid));
    }
    if (tracked.size() > names.size()) names.push_back(absl::StrCat("and ", tracked.size() - names.size(), " more"));
    const Discovery::Stats& d = discovery_.stats();
    std::string skipped = absl::StrCat(d.over_limit_total, " matching processes over max_processes (",
                                       config_.max_processes, ") or the memory limit, ", d.track_errors,
                                       " that could not be tracked (exited, or refused)");
    // How waits are seen decides what every process on the node pays (docs/performance.md).
    const std::string hooks = control.Stats().wait_hooks();
    std::string line;
    if (json_) {
      line = absl::StrCat(R"({"time":")", Rfc3339Utc(absl::ToUnixNanos(absl::Now())), R"(","daemonStarted":{"tracking":)",
                          tracked.size(), R"(,"processes":)");
      AppendJsonString(absl::StrJoin(names, ", "), line);
      absl::StrAppend(&line, R"(,"overLimit":)", d.over_limit_total, R"(,"trackErrors":)", d.track_errors,
                      R"(,"selectors":)");
      AppendJsonString(absl::StrJoin(config_.select, " | "), line);
      absl::StrAppend(&line, R"(,"waitHooks":)");
      AppendJsonString(hooks, line);
      line += "}}\n";
    } else {
      line = absl::StrCat(Rfc3339Utc(absl::ToUnixNanos(absl::Now())), " started: tracking ", tracked.size(),
                          " processes", names.empty() ? "" : ": ", absl::StrJoin(names, ", "), "; skipped ",
                          skipped, "; selectors: ",
                          config_.select.empty() ? "server:any (default)" : absl::StrJoin(config_.select, " | "),
                          "; waits seen by --syscall-hooks ", hooks, "\n");
    }
    fputs(line.c_str(), log_);
    fflush(log_);
  }

  void WriteStats(TraceControl& control) {
    v1::Report report;
    v1::AgentStats* stats = report.mutable_agent_stats();
    *stats = control.Stats();
    AddDaemonStats(*stats);
    if (collector_) {
      CollectorClient::Stats s = collector_->stats();
      stats->set_collector_acked(s.acked);
      stats->set_collector_drops(s.dropped);
      stats->set_collector_reconnects(s.reconnects);
      stats->set_collector_auth_failures(s.auth_failures);
      stats->set_collector_rejected(s.rejected);
    }
    writer_->Write(report);
  }

  void AddDaemonStats(v1::AgentStats& s) const {
    s.set_discovery_over_limit(discovery_.stats().over_limit_total);
    s.set_memory_shed(guard_.raised());
  }

  void ApplyShedLevel(TraceControl& control, ShedLevel before, ShedLevel level) {
    fprintf(stderr, "stallscope: memory %llu MiB of %llu MiB limit: shedding level %d -> %d\n",
            static_cast<unsigned long long>(SelfRssBytes() >> 20),
            static_cast<unsigned long long>(config_.memory_limit_mb), static_cast<int>(before), static_cast<int>(level));
    if (level > before && level >= ShedLevel::kDropCaches) next_cache_drop_ns_ = 0;  // now
    control.SetPythonStacks(level < ShedLevel::kNoPythonStacks);
  }

  void PublishMetrics(TraceControl& control) {
    DaemonMetrics m;
    m.reports_by_kind = writer_->written();
    m.python_stack_reasons = writer_->python_stack_reasons();
    m.kernel = control.KernelCounters();
    m.tracked_processes = control.Tracked().size();
    const Discovery::Stats& d = discovery_.stats();
    m.discovery_scans = d.scans;
    m.last_scan_seconds = last_scan_seconds_;
    m.discovered_total = d.tracked_total;
    m.untracked_total = d.untracked_total;
    m.over_limit_total = d.over_limit_total;
    m.track_errors = d.track_errors;
    m.skipped_not_serving = d.skipped_not_serving;
    m.skipped_by_selectors = d.skipped_by_selectors;
    if (collector_) {
      CollectorClient::Stats s = collector_->stats();
      m.has_collector = true;
      m.collector_acked = s.acked;
      m.collector_dropped = s.dropped;
      m.collector_pending = s.pending;
      m.collector_reconnects = s.reconnects;
      m.collector_rejected = s.rejected;
    }
    m.rss_bytes = SelfRssBytes();
    m.memory_limit_bytes = config_.memory_limit_mb << 20;
    m.shed_level = static_cast<int>(guard_.level());
    m.shed_raised = guard_.raised();
    m.cpu_seconds = SelfCpuSeconds();
    m.reloads_ok = reloads_ok_;
    m.reloads_failed = reloads_failed_;
    m.target_file_refusals = target_files::RefusalCounts();
    m.bounded_sheds = target_files::ShedCounts();
    std::string text = FormatDaemonMetrics(m);
    workload_metrics_.Render(absl::GetCurrentTimeNanos(), text);  // per service and pool, this node
    ops_.Publish(std::move(text), ready_);
  }

  // SIGHUP: a config that does not parse leaves everything as it was.
  void Reload() {
    auto fail = [this](const absl::Status& st) {
      ++reloads_failed_;
      fprintf(stderr, "stallscope: config reload failed, keeping the previous config: %s\n",
              std::string(st.message()).c_str());
    };
    auto config = LoadConfig(options_);
    if (!config.ok()) return fail(config.status());
    auto selectors = SelectorSet::Create(config->select, config->exclude);
    if (!selectors.ok()) return fail(selectors.status());
    auto rule = ParseServiceRule(config->service);
    if (!rule.ok()) return fail(rule.status());
    std::vector<std::string> need_restart;
    if (config->collector != config_.collector) need_restart.push_back("collector");
    if (config->listen != config_.listen || config->listen_token_file != config_.listen_token_file ||
        config->listen_insecure != config_.listen_insecure)
      need_restart.push_back("listen");
    if (config->collector_ca != config_.collector_ca || config->tls_cert != config_.tls_cert ||
        config->tls_key != config_.tls_key || config->collector_token_file != config_.collector_token_file ||
        config->insecure != config_.insecure)
      need_restart.push_back("collector TLS/token files (their contents are re-read on reconnect)");
    if (config->output != config_.output || config->format != config_.format) need_restart.push_back("output");
    if (config->block_threshold_ms != config_.block_threshold_ms) need_restart.push_back("block_threshold_ms");
    if (config->max_threads != config_.max_threads) need_restart.push_back("max_threads");
    if (config->max_processes > config_.max_processes) need_restart.push_back("max_processes (raising it)");
    // Settings that need a restart keep their running values.
    DaemonConfig next = *config;
    next.collector = config_.collector;
    next.listen = config_.listen;
    next.listen_token_file = config_.listen_token_file;
    next.listen_insecure = config_.listen_insecure;
    next.collector_ca = config_.collector_ca;
    next.tls_cert = config_.tls_cert;
    next.tls_key = config_.tls_key;
    next.collector_token_file = config_.collector_token_file;
    next.insecure = config_.insecure;
    next.output = config_.output;
    next.format = config_.format;
    next.block_threshold_ms = config_.block_threshold_ms;
    next.max_threads = config_.max_threads;
    next.max_processes = std::min(config->max_processes, config_.max_processes);
    config_ = std::move(next);
    discovery_.SetSelectors(std::move(*selectors));
    identity_.Reset(config_.host_root, std::move(*rule));
    guard_.set_limit(config_.memory_limit_mb << 20);
    next_scan_ns_ = 0;  // judge every process with the new selectors now
    ++reloads_ok_;
    std::string restart;
    for (const std::string& s : need_restart) absl::StrAppend(&restart, restart.empty() ? "" : ", ", s);
    fprintf(stderr, "stallscope: config reloaded from %s%s%s\n",
            options_.config_path.empty() ? "the command line (no --config)" : options_.config_path.c_str(),
            restart.empty() ? "" : "; changes to these take effect after a restart: ", restart.c_str());
  }

  const DaemonOptions& options_;
  DaemonConfig config_;
  IdentityResolver identity_;
  Discovery discovery_;
  MemoryGuard guard_;
  OpsServer ops_;
  int ops_port_ = 0;
  FILE* log_ = stdout;  // where reports are written (besides the collector)
  WorkloadMetrics workload_metrics_;
  bool json_ = false;
  static constexpr size_t kStartupNames = 20;
  std::unique_ptr<CollectorClient> collector_;
  IdentityWriter* writer_ = nullptr;
  uint64_t next_scan_ns_ = 0;
  uint64_t next_stats_ns_ = 0;
  uint64_t next_cache_drop_ns_ = 0;
  double last_scan_seconds_ = 0;
  std::vector<pid_t> exec_queue_;  // execs the kernel reported since the last tick
  bool ready_ = false;
  uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
};

}  // namespace

int RunDaemon(const DaemonOptions& options) {
  auto config = LoadConfig(options);
  if (!config.ok()) return Fail(std::string(config.status().message()), kExitConfig);
  auto selectors = SelectorSet::Create(config->select, config->exclude);
  if (!selectors.ok()) return Fail(std::string(selectors.status().message()), kExitConfig);
  auto rule = ParseServiceRule(config->service);
  if (!rule.ok()) return Fail(std::string(rule.status().message()), kExitConfig);
  if (options.check_config) {
    printf("stallscope: %s: config ok\n", options.config_path.empty() ? "(defaults)" : options.config_path.c_str());
    return kExitOk;
  }
  Daemon daemon(options, std::move(*config), std::move(*selectors), std::move(*rule));
  return daemon.Run();
}

}  // namespace stallscope
