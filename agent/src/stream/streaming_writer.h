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

// `client` must outlive the writer.
std::unique_ptr<ReportWriter> MakeStreamingWriter(std::unique_ptr<ReportWriter> local, CollectorClient* client,
                                                  std::chrono::milliseconds flush_timeout);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_STREAM_STREAMING_WRITER_H_
