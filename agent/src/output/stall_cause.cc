#include "output/stall_cause.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "output/report_writer.h"

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

bool IsApplicationFile(const std::string& file) {
  if (file.empty() || file.front() == '<') return false;  // <frozen importlib._bootstrap>
  return !absl::StrContains(file, "/site-packages/") && !absl::StrContains(file, "/dist-packages/") &&
         !absl::StrContains(file, "/lib/python") && !absl::StrContains(file, "/lib64/python");
}

const v1::Frame* SiteFrame(const v1::LoopBlock& block) {
  const v1::Frame* python = nullptr;
  for (const v1::Frame& f : block.stack()) {
    if (f.kind() != v1::Frame::PYTHON) continue;
    if (IsApplicationFile(f.file())) return &f;
    if (python == nullptr) python = &f;
  }
  if (python != nullptr) return python;
  return block.stack_size() > 0 ? &block.stack(0) : nullptr;
}

std::string FrameInWords(const v1::Frame& f) {
  if (f.kind() == v1::Frame::PYTHON) return absl::StrCat(f.file(), ":", f.line(), " ", f.function());
  return absl::StrCat(f.function().empty() ? "?" : f.function(), " (", f.module(), ")");
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
  if (const v1::Frame* site = SiteFrame(b)) absl::StrAppend(&cause, " at ", FrameInWords(*site));
  return cause;
}

}  // namespace stallscope
