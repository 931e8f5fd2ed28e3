#include "metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "report_index.h"

namespace stallscope::collector {
namespace {

const std::vector<double> kStallBounds = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const std::vector<double> kAcceptBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.10g", v);
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

std::string ServiceHostLabels(const std::pair<std::string, std::string>& sh) {
  return absl::StrCat(Label("service", sh.first), ",", Label("host", sh.second));
}

// A numeric field of the kind message by the first name it has (new kinds are matched by
// field names, see report_index.h).
std::optional<double> FirstField(const google::protobuf::Message& m, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const auto* f = m.GetDescriptor()->FindFieldByName(name);
    if (f == nullptr || f->is_repeated()) continue;
    // Averages (PoolUtilization.busy) are doubles.
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE)
      return m.GetReflection()->GetDouble(m, f);
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_FLOAT)
      return m.GetReflection()->GetFloat(m, f);
    return static_cast<double>(UintField(m, name));
  }
  return std::nullopt;
}

// Socket reports: the first *_ns field whose name mentions accept (time in the accept queue).
std::optional<uint64_t> AcceptWaitField(const google::protobuf::Message& m) {
  const auto* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& n = d->field(i)->name();
    if (n.find("accept") != std::string::npos && n.size() > 3 && n.compare(n.size() - 3, 3, "_ns") == 0)
      return UintField(m, n);
  }
  return std::nullopt;
}

}  // namespace

void Histogram::Observe(double v) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (v <= bounds_[i]) {
      ++counts_[i];
      break;
    }
  }
  ++count_;
  sum_ += v;
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string& out) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, name, "_bucket{", labels, sep, "le=\"", Number(bounds_[i]), "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{", labels, sep, "le=\"+Inf\"} ", count_, "\n");
  std::string braces = labels.empty() ? "" : absl::StrCat("{", labels, "}");
  absl::StrAppend(&out, name, "_sum", braces, " ", Number(sum_), "\n");
  absl::StrAppend(&out, name, "_count", braces, " ", count_, "\n");
}

std::string Label(const std::string& name, const std::string& value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    if (c == '\\') escaped += "\\\\";
    else if (c == '"') escaped += "\\\"";
    else if (c == '\n') escaped += "\\n";
    else escaped.push_back(c);
  }
  return absl::StrCat(name, "=\"", escaped, "\"");
}

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
  if (stalls_.count(sh) != 0 || stalls_.size() < kMaxSeries) {
    stalls_.try_emplace(sh, 0);
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
    ServiceHost sh = Bounded({ServiceOf(x, agent_sh.first), agent_sh.second});  // a daemon's reports name their own
    if (x.kind == "loop_block") {
      ++stalls_[sh];
      stall_seconds_.try_emplace(sh, kStallBounds).first->second.Observe(x.duration_ns / 1e9);
    } else if (x.kind == "pool_saturation") {
      pool_saturated_seconds_[{sh.first, sh.second, x.subject}] += x.duration_ns / 1e9;
    } else if (x.kind == "pool_utilization" || x.kind == "socket_lifetime") {
      // Rare kinds: their fields are read from the message itself.
      v1::Report report;
      if (!report.ParseFromString(row.body)) continue;
      const google::protobuf::Message* m = KindMessage(report);
      if (m == nullptr) continue;
      if (x.kind == "pool_utilization") {
        Pool pool{sh.first, sh.second, x.subject};
        if (auto size = FirstField(*m, {"size", "pool_size", "max_size", "capacity", "workers"}))
          pool_size_[pool] = *size;
        if (auto busy = FirstField(*m, {"busy", "busy_workers", "in_use", "active"}))
          pool_busy_[pool] = *busy;
      } else if (const auto* accepted = m->GetDescriptor()->FindFieldByName("accepted");
                 accepted != nullptr && accepted->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL &&
                 !m->GetReflection()->GetBool(*m, accepted)) {
        continue;  // outbound, or closed before accept(): no accept-queue wait
      } else if (auto wait = AcceptWaitField(*m)) {
        accept_wait_.try_emplace(sh, kAcceptBounds).first->second.Observe(*wait / 1e9);
      }
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
  Header(out, "stallscope_stalls_total", "counter", "Event-loop stalls (final loop_block reports) by service and host.");
  for (const auto& [sh, n] : stalls_) absl::StrAppend(&out, "stallscope_stalls_total{", ServiceHostLabels(sh), "} ", n, "\n");
  Header(out, "stallscope_stall_duration_seconds", "histogram", "How long event loops stalled.");
  for (const auto& [sh, h] : stall_seconds_) h.Render("stallscope_stall_duration_seconds", ServiceHostLabels(sh), out);

  auto pool_labels = [](const Pool& p) {
    return absl::StrCat(Label("service", std::get<0>(p)), ",", Label("host", std::get<1>(p)), ",",
                        Label("pool", std::get<2>(p)));
  };
  Header(out, "stallscope_pool_size", "gauge", "Pool size in the latest pool_utilization report.");
  for (const auto& [p, v] : pool_size_) absl::StrAppend(&out, "stallscope_pool_size{", pool_labels(p), "} ", Number(v), "\n");
  Header(out, "stallscope_pool_busy", "gauge", "Busy pool members in the latest pool_utilization report.");
  for (const auto& [p, v] : pool_busy_) absl::StrAppend(&out, "stallscope_pool_busy{", pool_labels(p), "} ", Number(v), "\n");
  Header(out, "stallscope_pool_saturated_seconds_total", "counter", "Time pools spent saturated (pool_saturation reports).");
  for (const auto& [p, v] : pool_saturated_seconds_)
    absl::StrAppend(&out, "stallscope_pool_saturated_seconds_total{", pool_labels(p), "} ", Number(v), "\n");
  Header(out, "stallscope_accept_wait_seconds", "histogram", "Time connections waited in the accept queue.");
  for (const auto& [sh, h] : accept_wait_) h.Render("stallscope_accept_wait_seconds", ServiceHostLabels(sh), out);

  std::map<ServiceHost, uint64_t> drops;
  for (const auto& [agent, v] : agent_drops_) drops[{std::get<0>(v), std::get<1>(v)}] += std::get<2>(v);
  Header(out, "stallscope_agent_reports_dropped_total", "counter",
         "Reports agents dropped because their buffer to the collector was full.");
  for (const auto& [sh, n] : drops)
    absl::StrAppend(&out, "stallscope_agent_reports_dropped_total{", ServiceHostLabels(sh), "} ", n, "\n");

  Header(out, "stallscope_collector_streams", "gauge", "Agent streams open now.");
  absl::StrAppend(&out, "stallscope_collector_streams ", streams_, "\n");
  Header(out, "stallscope_collector_streams_opened_total", "counter", "Agent streams opened.");
  absl::StrAppend(&out, "stallscope_collector_streams_opened_total ", streams_total_, "\n");
  Header(out, "stallscope_collector_reports_received_total", "counter", "Reports received from agents.");
  absl::StrAppend(&out, "stallscope_collector_reports_received_total ", reports_received_, "\n");
  Header(out, "stallscope_collector_reports_stored_total", "counter", "Reports committed to the store.");
  absl::StrAppend(&out, "stallscope_collector_reports_stored_total ", reports_stored_, "\n");
  Header(out, "stallscope_collector_reports_duplicate_total", "counter",
         "Resent reports already stored (skipped).");
  absl::StrAppend(&out, "stallscope_collector_reports_duplicate_total ", reports_duplicate_, "\n");
  Header(out, "stallscope_collector_reports_expired_total", "counter", "Reports deleted by retention.");
  absl::StrAppend(&out, "stallscope_collector_reports_expired_total ", reports_expired_, "\n");
  // Ingest rate over the last 10 s, for dashboards without PromQL.
  PruneWindow(now_ns);
  uint64_t recent = 0;
  for (const auto& [t, n] : stored_window_) recent += n;
  double rate = recent / (kRateWindowNs / 1e9);
  Header(out, "stallscope_collector_ingest_reports_per_second", "gauge", "Reports stored per second, last 10 s.");
  absl::StrAppend(&out, "stallscope_collector_ingest_reports_per_second ", Number(rate), "\n");
  Header(out, "stallscope_collector_ingest_queue_reports", "gauge", "Reports received and waiting for a commit.");
  absl::StrAppend(&out, "stallscope_collector_ingest_queue_reports ", queued, "\n");
  Header(out, "stallscope_collector_batches_committed_total", "counter", "Agent batches committed.");
  absl::StrAppend(&out, "stallscope_collector_batches_committed_total ", batches_, "\n");
  Header(out, "stallscope_collector_batches_rejected_total", "counter", "Agent messages rejected, by reason.");
  for (const auto& [reason, n] : rejected_)
    absl::StrAppend(&out, "stallscope_collector_batches_rejected_total{", Label("reason", reason), "} ", n, "\n");
  Header(out, "stallscope_collector_reports_refused_total", "counter",
         "Reports received and not stored, by reason (time_out_of_range: dated before now - retention or "
         "after now + 10 min).");
  for (const auto& [reason, n] : refused_)
    absl::StrAppend(&out, "stallscope_collector_reports_refused_total{", Label("reason", reason), "} ", n, "\n");
  Header(out, "stallscope_collector_store_errors_total", "counter", "Failed store transactions.");
  absl::StrAppend(&out, "stallscope_collector_store_errors_total ", store_errors_, "\n");
  Header(out, "stallscope_collector_commit_duration_seconds", "histogram", "Store transaction commit time.");
  commit_seconds_.Render("stallscope_collector_commit_duration_seconds", "", out);
  if (extra_) extra_(out);
  return out;
}

}  // namespace stallscope::collector
