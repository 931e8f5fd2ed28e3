#include "output/log_writer.h"

#include <time.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "output/pool_socket_text.h"
#include "output/stall_cause.h"
#include "safe_text.h"

namespace stallscope {
namespace {

// "checkout shop/checkout-7d9f-x pid 908": the parts the daemon knows.
std::string Who(const v1::Report& report, uint32_t pid) {
  const v1::ProcessIdentity& p = report.process();
  std::string who;
  if (!p.service().empty()) absl::StrAppend(&who, p.service(), " ");
  if (!p.pod().empty()) absl::StrAppend(&who, p.pod_namespace().empty() ? "" : p.pod_namespace() + "/", p.pod(), " ");
  absl::StrAppend(&who, "pid ", pid);
  return who;
}

std::string LoopBlockLine(const v1::Report& r) {
  const v1::LoopBlock& b = r.loop_block();
  std::string state = b.in_progress() ? " so far, still blocked" : "";
  if (b.thread_exited()) state = ", thread exited while blocked";
  return absl::StrCat(Who(r, b.pid()), " tid ", b.tid(), ": loop blocked ", FormatDuration(b.duration_ns()), state,
                      " - ", b.cause().empty() ? StallCause(b) : b.cause());
}

std::string PoolSaturationLine(const v1::Report& r) {
  const v1::PoolSaturation& s = r.pool_saturation();
  std::string line = absl::StrFormat("%s: %s pool saturated %s%s, all %u busy", Who(r, s.pid()),
                                     s.kind() == v1::PREFORK ? "prefork" : "thread", FormatDuration(s.duration_ns()),
                                     s.in_progress() ? " so far" : "", s.size());
  if (!s.listen_address().empty())
    absl::StrAppendFormat(&line, ", up to %u queued on %s, queue wait max %s", s.max_queued(), s.listen_address(),
                          FormatDuration(s.accept_wait_max_ns()));
  if (s.activities_size() > 0) {
    const v1::PoolActivity& a = s.activities(0);  // largest first
    std::string what = a.target().empty() ? a.what() : absl::StrCat(a.what(), " on ", PeerOf(a.target()));
    absl::StrAppendFormat(&line, " - workers mostly %s (%.0f%% of samples)", what, 100 * a.share());
  }
  return line;
}

std::string ProcessEventLine(const v1::Report& r) {
  const v1::ProcessEvent& e = r.process_event();
  switch (e.kind()) {
    case v1::ProcessEvent::ATTACHED: return absl::StrCat(Who(r, e.pid()), ": tracking (", e.comm(), ")");
    case v1::ProcessEvent::FORKED:
      return absl::StrCat(Who(r, e.pid()), ": tracking new worker (", e.comm(), ") of pid ", e.parent_pid());
    case v1::ProcessEvent::EXECED: return absl::StrCat(Who(r, e.pid()), ": exec (", e.comm(), ")");
    case v1::ProcessEvent::EXITED: return absl::StrCat(Who(r, e.pid()), ": exited (", e.comm(), ")");
    default: return "";
  }
}

// label: "heartbeat" every stats interval, "stopping" at exit.
std::string CountsLine(const char* label, const v1::AgentStats& s, uint64_t saturations) {
  uint64_t lost = s.ringbuf_drops() + s.thread_map_full() + s.tracked_map_full() + s.socket_map_full() +
                  s.pool_member_map_full();
  return absl::StrFormat(
      "%s: tracking %u processes; since start %u stalls, %u pool saturations, %u events lost, "
      "%u matching processes not tracked (over max_processes or memory), %u reports dropped for the collector",
      label, s.tracked_processes(), s.stalls_reported(), saturations, lost, s.discovery_over_limit(), s.collector_drops());
}

class LogWriter : public ReportWriter {
 public:
  LogWriter(FILE* out, bool show_sockets) : out_(out), show_sockets_(show_sockets) {}

  void Write(const v1::Report& report) override {
    if (report.has_pool_saturation() && !report.pool_saturation().in_progress()) saturations_++;
    std::string line = report.has_agent_stats() ? CountsLine("heartbeat", report.agent_stats(), saturations_)
                                                : LogLine(report, show_sockets_);
    if (!line.empty()) Print(line);
  }
  void Finish(const StallSummary&, const v1::AgentStats& stats) override {
    Print(CountsLine("stopping", stats, saturations_));
  }
  bool ok() const override { return ok_; }

 private:
  // One report, one line: the line as safe text (its target strings are already; this is the
  // guard), so no newline in a name can forge a line and no ESC reaches `kubectl logs`.
  void Print(const std::string& line) {
    std::string out = absl::StrCat(Rfc3339Utc(absl::ToUnixNanos(absl::Now())), " ", SafeText(line, 64 * 1024), "\n");
    if (fwrite(out.data(), 1, out.size(), out_) != out.size() || fflush(out_) != 0) ok_ = false;
  }

  FILE* out_;
  bool show_sockets_;
  uint64_t saturations_ = 0;
  bool ok_ = true;
};

}  // namespace

std::string Rfc3339Utc(uint64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((unix_ns / 1'000'000) % 1000));
}

std::string LogLine(const v1::Report& report, bool show_sockets) {
  if (report.has_loop_block()) return LoopBlockLine(report);
  if (report.has_pool_saturation()) return PoolSaturationLine(report);
  if (report.has_process_event()) return ProcessEventLine(report);
  if (report.has_socket_lifetime() && show_sockets) {
    std::string text = FormatSocketLifetime(report.socket_lifetime());
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return absl::StrCat(Who(report, report.socket_lifetime().pid()), ": ", text);
  }
  return "";
}

std::unique_ptr<ReportWriter> MakeLogWriter(FILE* out, bool show_sockets) {
  return std::make_unique<LogWriter>(out, show_sockets);
}

}  // namespace stallscope
