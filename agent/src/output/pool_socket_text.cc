#include "output/pool_socket_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "output/report_writer.h"

namespace stallscope {
namespace {

const char* GilNote(v1::GilWaitStatus s) {
  return s == v1::GIL_WAIT_COUNTED_AS_BUSY ? "  (busy time includes GIL waits: not told apart)" : "";
}

const char* EndName(v1::SocketLifetime::End end) {
  switch (end) {
    case v1::SocketLifetime::RESET_RECEIVED: return "reset by peer";
    case v1::SocketLifetime::RESET_SENT: return "reset sent";
    case v1::SocketLifetime::NEVER_ESTABLISHED: return "never established";
    default: return "closed";
  }
}

}  // namespace

std::string FormatPoolSaturation(const v1::PoolSaturation& s) {
  std::string out = absl::StrFormat(
      "%s POOL SATURATED %s%s  %s: all %u %s busy\n", ClockTime(s.start_time_unix_nano()),
      FormatDuration(s.duration_ns()), s.in_progress() ? " (STILL SATURATED, so far)" : "", s.pool(),
      s.size(), s.kind() == v1::PREFORK ? "workers" : "threads");
  absl::StrAppendFormat(&out, "  members: %s; on CPU %.0f%% of their time\n", absl::StrJoin(s.members(), " "),
                        100 * s.on_cpu_share());
  if (!s.listen_address().empty())
    absl::StrAppendFormat(&out, "  accept queue %s: up to %u waiting; %u accepted, wait mean %s max %s\n",
                          s.listen_address(), s.max_queued(), s.accepted(),
                          FormatDuration(s.accept_wait_mean_ns()), FormatDuration(s.accept_wait_max_ns()));
  if (s.activity_samples() > 0) {
    std::vector<std::string> parts;
    for (const v1::PoolActivity& a : s.activities())
      parts.push_back(absl::StrFormat("%s%s%s %.0f%%", a.what(), a.target().empty() ? "" : " ", a.target(),
                                      100 * a.share()));
    absl::StrAppendFormat(&out, "  busy members were: %s (%u samples)\n", absl::StrJoin(parts, ", "),
                          s.activity_samples());
  }
  absl::StrAppendFormat(&out, "%s\n", GilNote(s.gil_wait()));
  return out;
}

std::string FormatPoolUtilization(const v1::PoolUtilization& u) {
  std::string out = absl::StrFormat(
      "%s POOL %s: %u members, busy %.2f avg / %u peak, %llu requests in %s (%.1f/s), service %s, "
      "ceiling %.1f/s, saturated %s",
      ClockTime(u.time_unix_nano()), u.pool(), u.size(), u.busy(), u.busy_peak(),
      static_cast<unsigned long long>(u.requests()), FormatDuration(u.interval_ns()), u.rate_per_second(),
      FormatDuration(u.service_time_mean_ns()), u.capacity_per_second(), FormatDuration(u.saturated_ns()));
  if (!u.listen_address().empty())
    absl::StrAppendFormat(&out, "; accept queue peak %u/%u", u.max_queued(), u.backlog_limit());
  if (u.synack_retransmits())
    absl::StrAppendFormat(&out, ", %llu SYN-ACK retransmits", static_cast<unsigned long long>(u.synack_retransmits()));
  absl::StrAppend(&out, "\n");
  return out;
}

std::string FormatSocketLifetime(const v1::SocketLifetime& s) {
  bool in = s.direction() == v1::SocketLifetime::INBOUND;
  std::string out = absl::StrFormat("%s TCP %s %s %s %s  %s  pid %u tid %u  in %llu B out %llu B  %s",
                                    ClockTime(s.start_time_unix_nano()), in ? "in " : "out",
                                    s.local_address(), in ? "<-" : "->", s.remote_address(),
                                    FormatDuration(s.duration_ns()), s.pid(), s.tid(),
                                    static_cast<unsigned long long>(s.bytes_in()),
                                    static_cast<unsigned long long>(s.bytes_out()), EndName(s.end()));
  if (s.connect_latency_ns()) absl::StrAppend(&out, "  connect ", FormatDuration(s.connect_latency_ns()));
  if (s.accepted()) absl::StrAppend(&out, "  accept wait ", FormatDuration(s.accept_wait_ns()));
  if (in && !s.accepted()) absl::StrAppend(&out, "  never accepted");
  absl::StrAppend(&out, "\n");
  return out;
}

std::string FormatEndpointSummary(const std::vector<EndpointSummary::Row>& rows) {
  std::string out = "TCP connections by remote endpoint (count, duration p50 / p99 / max):\n";
  for (const EndpointSummary::Row& r : rows) {
    absl::StrAppendFormat(&out, "  %-40s %6llu  %10s %10s %10s", r.endpoint,
                          static_cast<unsigned long long>(r.count), FormatDuration(r.p50_ns),
                          FormatDuration(r.p99_ns), FormatDuration(r.max_ns));
    if (r.resets) absl::StrAppendFormat(&out, "  %llu reset", static_cast<unsigned long long>(r.resets));
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace stallscope
