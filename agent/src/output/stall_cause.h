// A stall's cause in words, for log lines and summaries: "blocked 7.40 s in recv from
// 10.0.0.5:5432 at app/views.py:88 fetch_orders".
#ifndef STALLSCOPE_AGENT_OUTPUT_STALL_CAUSE_H_
#define STALLSCOPE_AGENT_OUTPUT_STALL_CAUSE_H_

#include <string>

#include "stallscope/v1/report.pb.h"

namespace stallscope {

// The peer of a socket target, without the local (often ephemeral) end, so one upstream is
// one line: "tcp 127.0.0.1:40426 -> 10.0.0.5:5432" -> "10.0.0.5:5432". Other targets
// ("unix /run/x.sock", a path, "pipe") are returned as they are.
std::string PeerOf(const std::string& target);

// A syscall with what it waited on: "recv from 10.0.0.5:5432", "clock_nanosleep".
std::string SyscallInWords(const v1::SyscallStat& call);

// Why the loop did not turn, in one line: the largest of blocked / on CPU / waiting for CPU,
// with the syscall and peer (blocked), the GIL holder (waiting for CPU), and the site
// (common/stack_site.h: the same as the collector's and the dashboard's).
std::string StallCause(const v1::LoopBlock& block);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_STALL_CAUSE_H_
