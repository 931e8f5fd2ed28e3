#include "stream/streaming_writer.h"

#include <cstdio>

namespace stallscope {
namespace {

class StreamingWriter : public ReportWriter {
 public:
  StreamingWriter(std::unique_ptr<ReportWriter> local, CollectorClient* client, std::chrono::milliseconds flush_budget)
      : local_(std::move(local)), client_(client), flush_budget_(flush_budget) {}

  void Write(const v1::Report& report) override {
    local_->Write(report);
    client_->Write(report);
  }
  void Observe(const v1::Report& report) override { local_->Observe(report); }  // not streamed

  void Finish(const StallSummary& summary, const v1::AgentStats& stats) override {
    // Most of the budget for the reports, the rest for the counters' own last report.
    auto deadline = std::chrono::steady_clock::now() + flush_budget_;
    client_->Flush(flush_budget_ * 4 / 5);
    CollectorClient::Stats s = client_->stats();
    v1::AgentStats with_stream = stats;
    with_stream.set_collector_acked(s.acked);
    with_stream.set_collector_drops(s.dropped);
    with_stream.set_collector_unacked_at_exit(s.pending);
    with_stream.set_collector_reconnects(s.reconnects);
    with_stream.set_collector_auth_failures(s.auth_failures);
    with_stream.set_collector_rejected(s.rejected);
    local_->Finish(summary, with_stream);
    // The counters travel to the collector too, as the run's last report.
    v1::Report last;
    *last.mutable_agent_stats() = with_stream;
    client_->Write(last);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    bool all = client_->Flush(std::max(left, std::chrono::milliseconds(0)));
    s = client_->stats();
    client_->Stop();
    if (s.dropped > 0 || !all)
      fprintf(stderr,
              "stallscope: warning: collector stream: %llu reports dropped (buffer full), %llu not acknowledged at exit\n",
              static_cast<unsigned long long>(s.dropped), static_cast<unsigned long long>(s.pending));
  }

  bool ok() const override { return local_->ok(); }

 private:
  std::unique_ptr<ReportWriter> local_;
  CollectorClient* client_;
  std::chrono::milliseconds flush_budget_;
};

}  // namespace

std::unique_ptr<ReportWriter> MakeStreamingWriter(std::unique_ptr<ReportWriter> local, CollectorClient* client,
                                                  std::chrono::milliseconds flush_budget) {
  return std::make_unique<StreamingWriter>(std::move(local), client, flush_budget);
}

}  // namespace stallscope
