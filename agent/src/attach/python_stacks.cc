#include "attach/python_stacks.h"

#include <optional>

namespace stallscope {

PythonStacks::ProcessEntry& PythonStacks::ProcessFor(pid_t pid) {
  auto it = processes_.find(pid);
  if (it != processes_.end()) return it->second;
  ProcessEntry entry;
  auto opened = PythonProcess::Open(pid);
  if (opened.ok()) {
    entry.process = std::move(*opened);
  } else if (opened.status().code() == absl::StatusCode::kUnimplemented) {
    entry.unavailable = v1::PYTHON_STACK_UNSUPPORTED;
  } else if (opened.status().code() == absl::StatusCode::kNotFound) {
    entry.unavailable = v1::PYTHON_STACK_NOT_PYTHON;
  } else {
    entry.unavailable = v1::PYTHON_STACK_READ_FAILED;
  }
  return processes_.emplace(pid, std::move(entry)).first->second;
}

void PythonStacks::Apply(const Capture& capture, v1::LoopBlock& block) {
  block.set_python_stack_status(capture.status);
  if (capture.status != v1::PYTHON_STACK_CAPTURED) return;
  block.set_python_stack_at_ns(capture.at_ns);
  block.set_gil_holder_tid(capture.gil_holder);
  // Native frames of the blocking call stay innermost; the Python frames that made it follow.
  for (const v1::Frame& frame : capture.frames) *block.add_stack() = frame;
}

void PythonStacks::OnInProgress(const BusySnapshot& stall, v1::LoopBlock& block) {
  Capture capture;
  capture.pid = stall.pid;
  capture.seq = stall.seq;
  ProcessEntry& entry = ProcessFor(stall.pid);
  if (!entry.process) {
    capture.status = entry.unavailable;
  } else if (auto frames = entry.process->ThreadStack(stall.tid); frames.ok()) {
    std::optional<pid_t> holder = entry.process->GilHolder();
    // Checked after the read: if the thread is still in this stall now, it was all along.
    if (still_stalled_(stall)) {
      capture.status = v1::PYTHON_STACK_CAPTURED;
      capture.frames = std::move(*frames);
      capture.at_ns = stall.duration_ns();
      if (holder) capture.gil_holder = static_cast<uint32_t>(*holder);
    } else {
      capture.status = v1::PYTHON_STACK_NOT_CAPTURED;
    }
  } else {
    capture.status = v1::PYTHON_STACK_READ_FAILED;
  }
  Apply(capture, block);
  // A later in-progress read of the same stall replaces an earlier one (the final report shows
  // where the stall was last seen), unless it failed where an earlier one succeeded.
  auto previous = latest_by_tid_.find(stall.tid);
  if (capture.status != v1::PYTHON_STACK_CAPTURED && previous != latest_by_tid_.end() &&
      previous->second.seq == stall.seq && previous->second.status == v1::PYTHON_STACK_CAPTURED)
    return;
  latest_by_tid_[stall.tid] = std::move(capture);
}

void PythonStacks::OnFinal(const BusySnapshot& stall, v1::LoopBlock& block) {
  auto it = latest_by_tid_.find(stall.tid);
  if (it != latest_by_tid_.end() && it->second.seq == stall.seq) {
    Apply(it->second, block);
    latest_by_tid_.erase(it);
    return;
  }
  Capture none;
  ProcessEntry& entry = ProcessFor(stall.pid);
  none.status = entry.process ? v1::PYTHON_STACK_NOT_CAPTURED : entry.unavailable;
  Apply(none, block);
}

void PythonStacks::ForgetProcess(pid_t pid) {
  processes_.erase(pid);
  absl::erase_if(latest_by_tid_, [pid](const auto& kv) { return kv.second.pid == pid; });
}

}  // namespace stallscope
