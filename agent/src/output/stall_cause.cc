#include "output/stall_cause.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "output/report_writer.h"
#include "stack_site.h"

namespace stallscope {

std::string PeerOf(const std::string& target) {
  size_t arrow = target.find(" -> ");
  if (arrow == std::string::npos) return target;
  return target.substr(arrow + 4);
}

std::string SyscallInWords(const v1::SyscallStat& call) {
  if (call.target().empty()) return call.name();
  const std::string& name = call.name();
  const char* preposition = " on ";
  if (absl::StartsWith(name, "recv") || absl::StartsWith(name, "read")) preposition = " from ";
  if (absl::StartsWith(name, "send") || absl::StartsWith(name, "write") || name == "connect")
    preposition = " to ";
  return absl::StrCat(name, preposition, PeerOf(call.target()));
}

std::string StallCause(const v1::LoopBlock& b) {
  std::string cause;
  if (b.off_cpu_ns() >= b.on_cpu_ns() && b.off_cpu_ns() >= b.runqueue_ns()) {
    cause = absl::StrCat("blocked ", FormatDuration(b.off_cpu_ns()));
    if (b.syscalls_size() > 0) absl::StrAppend(&cause, " in ", SyscallInWords(b.syscalls(0)));
  } else if (b.on_cpu_ns() >= b.runqueue_ns()) {
    cause = absl::StrCat("on CPU ", FormatDuration(b.on_cpu_ns()));
  } else {
    cause = absl::StrCat("waiting for a CPU ", FormatDuration(b.runqueue_ns()));
  }
  if (b.gil_holder_tid() != 0 && b.gil_holder_tid() != b.tid())
    absl::StrAppend(&cause, " (GIL held by thread ", b.gil_holder_tid(), ")");
  if (std::string site = StackSite(b.stack()); !site.empty()) absl::StrAppend(&cause, " at ", site);
  return cause;
}

}  // namespace stallscope
