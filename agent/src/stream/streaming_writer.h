// A ReportWriter that writes every report to the terminal/file writer and also streams it
// to a collector. At exit it waits (bounded) for the collector to acknowledge everything,
// and reports the stream's counters in AgentStats.
#ifndef STALLSCOPE_AGENT_STREAM_STREAMING_WRITER_H_
#define STALLSCOPE_AGENT_STREAM_STREAMING_WRITER_H_

#include <chrono>
#include <memory>

#include "output/report_writer.h"
#include "stream/collector_client.h"

namespace stallscope {

// How long an exit waits, in all, for the collector's last acks. SIGTERM/SIGINT must end the
// agent within 2 s (a DaemonSet rollout, a user's Ctrl-C), and stopping the probes takes up to
// ~0.7 s on a busy node: so 1 s. A reachable collector acks in milliseconds; an unreachable one
// never would, and what it has not acknowledged is counted (collectorUnackedAtExit) and named
// on stderr.
inline constexpr std::chrono::milliseconds kExitFlushBudget{1000};

// `client` must outlive the writer. Finish() waits at most `flush_budget` in all.
std::unique_ptr<ReportWriter> MakeStreamingWriter(std::unique_ptr<ReportWriter> local, CollectorClient* client,
                                                  std::chrono::milliseconds flush_budget = kExitFlushBudget);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_STREAM_STREAMING_WRITER_H_
