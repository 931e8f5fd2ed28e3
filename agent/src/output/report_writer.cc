#include "output/report_writer.h"

#include <time.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "output/proto_json.h"
#include "output/pool_socket_text.h"
#include "sockets/socket_reports.h"

namespace stallscope {

std::string FormatDuration(uint64_t ns) {
  if (ns < 1'000'000) return absl::StrFormat("%.0f µs", ns / 1e3);
  if (ns < 1'000'000'000) return absl::StrFormat("%.1f ms", ns / 1e6);
  return absl::StrFormat("%.2f s", ns / 1e9);
}

// The proto3 JSON mapping with zeros printed ("runqueueNs": "0": zeros are answers too).
std::string ReportToJsonLine(const v1::Report& report) {
  std::string line;
  line.reserve(1024);
  AppendProto3Json(report, line);
  return line;
}

std::string ClockTime(uint64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  struct tm tm {};
  localtime_r(&secs, &tm);
  return absl::StrFormat("%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                         static_cast<int>((unix_ns / 1'000'000) % 1000));
}

namespace {

class JsonWriter : public ReportWriter {
 public:
  explicit JsonWriter(FILE* out) : out_(out) {}
  void Write(const v1::Report& report) override {
    std::string line = ReportToJsonLine(report);
    line.push_back('\n');
    if (fwrite(line.data(), 1, line.size(), out_) != line.size() || fflush(out_) != 0) ok_ = false;
  }
  void Finish(const StallSummary&, const v1::AgentStats& stats) override {
    v1::Report report;
    *report.mutable_agent_stats() = stats;
    Write(report);
  }
  bool ok() const override { return ok_; }

 private:
  FILE* out_;
  bool ok_ = true;
};

class TextWriter : public ReportWriter {
 public:
  TextWriter(FILE* out, bool show_sockets) : out_(out), show_sockets_(show_sockets) {}

  void Write(const v1::Report& report) override {
    if (report.has_loop_block()) WriteLoopBlock(report.loop_block());
    if (report.has_process_event()) WriteProcessEvent(report.process_event());
    if (report.has_pool_saturation()) {
      Print("%s", FormatPoolSaturation(report.pool_saturation()));
      AddSaturation(report.pool_saturation());
    }
    if (report.has_pool_utilization()) Print("%s", FormatPoolUtilization(report.pool_utilization()));
    if (report.has_socket_lifetime()) {
      endpoints_.Add(report.socket_lifetime());
      if (show_sockets_) Print("%s", FormatSocketLifetime(report.socket_lifetime()));
    }
    if (fflush(out_) != 0) ok_ = false;
  }

  void Observe(const v1::Report& report) override {
    if (report.has_socket_lifetime()) endpoints_.Add(report.socket_lifetime());
  }

  void Finish(const StallSummary& summary, const v1::AgentStats& stats) override {
    Print("\n=== stallscope summary (%s) ===\n", FormatDuration(stats.duration_ns()));
    // Pools too: a run whose pool was saturated is never summed up as "0 stalls" alone.
    std::string pools;
    if (saturations_ > 0)
      pools = absl::StrFormat("; %u pool saturations, %s saturated in total (longest %s), up to %u "
                              "connections queued, queue wait up to %s",
                              saturations_, FormatDuration(saturated_ns_), FormatDuration(longest_saturation_ns_),
                              max_queued_, FormatDuration(max_queue_wait_ns_));
    Print("%llu stalls, %s stalled in total%s\n", static_cast<unsigned long long>(summary.stalls()),
          FormatDuration(summary.total_ns()), pools);
    auto threads = summary.Threads();
    if (!threads.empty()) {
      Print("stalls per thread:\n");
      for (const auto& t : threads)
        Print("  pid %u tid %u (%s): %llu stalls, %s total, longest %s\n", t.pid, t.tid,
              t.comm.c_str(), static_cast<unsigned long long>(t.stalls),
              FormatDuration(t.total_ns), FormatDuration(t.max_ns));
    }
    auto sites = summary.TopCallSites(10);
    if (!sites.empty()) {
      Print("top call sites (stalled time by innermost Python frame, else native frame):\n");
      for (const auto& c : sites)
        Print("  %10s  in %llu stalls  %s\n", FormatDuration(c.total_ns),
              static_cast<unsigned long long>(c.stalls), c.what.c_str());
    }
    auto causes = summary.TopCauses(10);
    if (!causes.empty()) {
      Print("top causes (time attributed within stalls):\n");
      for (const auto& c : causes)
        Print("  %10s  in %llu stalls  %s\n", FormatDuration(c.total_ns),
              static_cast<unsigned long long>(c.stalls), c.what.c_str());
    }
    auto reasons = summary.PythonStackReasons();
    if (!reasons.empty()) {
      Print("stalls without Python frames, by reason:\n");
      for (const auto& [reason, n] : reasons)
        Print("  %6llu  %s\n", static_cast<unsigned long long>(n), reason.c_str());
    }
    if (!endpoints_.empty()) Print("%s", FormatEndpointSummary(endpoints_.Rows(20)));
    uint64_t drops = stats.ringbuf_drops() + stats.thread_map_full() + stats.tracked_map_full() +
                     stats.socket_map_full() + stats.pool_member_map_full();
    Print("agent: %u processes tracked; %llu events lost (ring buffer %llu, thread map full %llu, "
          "process map full %llu, socket map full %llu, pool members not added %llu); %llu stacks "
          "failed; %llu long busy periods on non-loop threads\n",
          stats.tracked_processes(), static_cast<unsigned long long>(drops),
          static_cast<unsigned long long>(stats.ringbuf_drops()),
          static_cast<unsigned long long>(stats.thread_map_full()),
          static_cast<unsigned long long>(stats.tracked_map_full()),
          static_cast<unsigned long long>(stats.socket_map_full()),
          static_cast<unsigned long long>(stats.pool_member_map_full()),
          static_cast<unsigned long long>(stats.stack_failures()),
          static_cast<unsigned long long>(stats.busy_periods_not_loops()));
    if (fflush(out_) != 0) ok_ = false;
  }
  bool ok() const override { return ok_; }

 private:
  template <typename... Args>
  void Print(const absl::FormatSpec<Args...>& format, const Args&... args) {
    if (absl::FPrintF(out_, format, args...) < 0) ok_ = false;
  }

  void WriteLoopBlock(const v1::LoopBlock& b) {
    std::string state = b.in_progress() ? " (STILL BLOCKED, so far)" : "";
    if (b.thread_exited()) state = " (thread exited while blocked)";
    Print("%s LOOP BLOCKED %s%s  pid %u tid %u (%s)%s\n", ClockTime(b.start_time_unix_nano()),
          FormatDuration(b.duration_ns()), state, b.pid(), b.tid(), b.comm().c_str(),
          b.wait().empty() ? "" : absl::StrFormat("  loop waits in %s", b.wait()).c_str());
    if (!b.cause().empty()) Print("  why: %s\n", b.cause());  // the culprit first
    Print("  on-CPU %s | blocked %s | waiting for CPU %s\n", FormatDuration(b.on_cpu_ns()),
          FormatDuration(b.off_cpu_ns()), FormatDuration(b.runqueue_ns()));
    bool first = true;
    for (const v1::SyscallStat& call : b.syscalls()) {
      std::string what = call.name();
      if (call.fd() >= 0) what += absl::StrFormat(" fd %d", call.fd());
      if (!call.target().empty()) what += " (" + call.target() + ")";
      if (call.in_progress()) what += " [in progress]";
      Print("  %-9s %-60s %10s  x%u\n", first ? "syscalls:" : "", what, FormatDuration(call.total_ns()),
            call.count());
      first = false;
    }
    if (b.stack_size() > 0) {
      Print("  stack (%s):\n", b.stack_kind().empty() ? "python" : b.stack_kind());
      for (int i = 0; i < b.stack_size(); ++i) {
        const v1::Frame& f = b.stack(i);
        std::string fn;
        if (f.kind() == v1::Frame::PYTHON)
          fn = f.function();
        else if (f.function().empty())
          fn = absl::StrFormat("0x%x", f.address());
        else
          fn = absl::StrFormat("%s+0x%x", f.function(), f.offset());
        std::string where = !f.file().empty() ? absl::StrFormat("%s:%u", f.file(), f.line()) : f.module();
        Print("    #%-2d %s  %s\n", i, fn, where);
      }
    }
    if (b.python_stack_status() == v1::PYTHON_STACK_CAPTURED) {
      std::string gil = b.python_free_threaded() ? "; free-threaded CPython: no GIL"
                        : b.gil_holder_tid() == 0 ? ""
                        : b.gil_holder_tid() == b.tid()
                            ? "; this thread held the GIL"
                            : absl::StrFormat("; thread %u held the GIL", b.gil_holder_tid());
      Print("  python frames read %s into the stall%s\n", FormatDuration(b.python_stack_at_ns()),
            gil);
      // Frames found but unnamed (UnnamedFramesReason).
      if (!b.python_stack_reason().empty()) Print("  python frames: %s\n", b.python_stack_reason());
      if (!b.asyncio_task().empty() || !b.asyncio_coro().empty()) {
        Print("  asyncio task: %s (coroutine %s)\n", b.asyncio_task(), b.asyncio_coro());
      }
    } else if (!b.python_stack_reason().empty()) {
      Print("  python frames: none (%s)\n", b.python_stack_reason());
    } else if (b.python_stack_status() != v1::PYTHON_STACK_STATUS_UNSPECIFIED &&
               b.python_stack_status() != v1::PYTHON_STACK_NOT_PYTHON) {
      Print("  python frames: none\n");
    }
    Print("\n");
  }

  void WriteProcessEvent(const v1::ProcessEvent& e) {
    const char* what = "";
    switch (e.kind()) {
      case v1::ProcessEvent::ATTACHED: what = "attached to"; break;
      case v1::ProcessEvent::FORKED: what = "now tracking new child"; break;
      case v1::ProcessEvent::EXECED: what = "exec in"; break;
      case v1::ProcessEvent::EXITED: what = "exited:"; break;
      default: return;
    }
    std::string parent = e.parent_pid() ? absl::StrFormat(" of %u", e.parent_pid()) : "";
    Print("%s -- %s pid %u (%s)%s\n", ClockTime(e.time_unix_nano()), what, e.pid(), e.comm(), parent);
  }

  void AddSaturation(const v1::PoolSaturation& s) {
    if (s.in_progress()) return;  // the final report of each saturation counts
    saturations_++;
    saturated_ns_ += s.duration_ns();
    longest_saturation_ns_ = std::max<uint64_t>(longest_saturation_ns_, s.duration_ns());
    max_queued_ = std::max(max_queued_, s.max_queued());
    max_queue_wait_ns_ = std::max<uint64_t>(max_queue_wait_ns_, s.accept_wait_max_ns());
  }

  FILE* out_;
  bool show_sockets_;
  EndpointSummary endpoints_;
  uint64_t saturations_ = 0;
  uint64_t saturated_ns_ = 0;
  uint64_t longest_saturation_ns_ = 0;
  uint32_t max_queued_ = 0;
  uint64_t max_queue_wait_ns_ = 0;
  bool ok_ = true;
};

}  // namespace

std::unique_ptr<ReportWriter> MakeJsonWriter(FILE* out) { return std::make_unique<JsonWriter>(out); }
std::unique_ptr<ReportWriter> MakeTextWriter(FILE* out, bool show_sockets) {
  return std::make_unique<TextWriter>(out, show_sockets);
}

}  // namespace stallscope
