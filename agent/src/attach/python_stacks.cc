#include "attach/python_stacks.h"

#include <algorithm>
#include <optional>
#include <string_view>

#include "absl/strings/match.h"

namespace stallscope {
namespace {

// The phrase a status message starts with: up to its details (" (...)" or ": ...").
std::string Lead(absl::string_view message) {
  size_t end = std::min(message.find(" ("), message.find(": "));
  return std::string(message.substr(0, end));
}

std::string MemoryReason(const absl::Status& status) {
  if (absl::IsPermissionDenied(status)) return "target memory unreadable: EPERM";
  if (absl::IsDataLoss(status)) return "target memory unreadable: EFAULT";
  return "";
}

}  // namespace

std::string PythonOpenFailureReason(const absl::Status& status) {
  if (std::string memory = MemoryReason(status); !memory.empty()) return memory;
  if (absl::IsNotFound(status)) {
    return absl::StrContains(status.message(), "not CPython") ? "_PyRuntime symbol not found"
                                                              : "process exited";
  }
  // Unimplemented: a layout not known; Unavailable: the interpreter's file refused (FUSE).
  if (absl::IsUnimplemented(status) || absl::IsUnavailable(status)) return Lead(status.message());
  return "reading the interpreter failed";
}

std::string PythonReadFailureReason(const absl::Status& status) {
  if (std::string memory = MemoryReason(status); !memory.empty()) return memory;
  if (absl::IsNotFound(status)) {
    return absl::StrContains(status.message(), "no Python thread state")
               ? "thread has no Python thread state"
               : "process exited";
  }
  if (absl::IsUnavailable(status)) return "stack changed during every read";
  if (absl::IsFailedPrecondition(status)) return "thread exited during the read";
  return "reading the frames failed";
}

std::string UnnamedFramesReason(const std::vector<v1::Frame>& frames) {
  bool any = false;
  for (const v1::Frame& frame : frames) {
    if (frame.kind() != v1::Frame::PYTHON) continue;
    if (!frame.function().empty()) return "";
    any = true;
  }
  return any ? kPythonNamesUnreadableReason : "";
}

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
  if (!opened.ok()) entry.reason = PythonOpenFailureReason(opened.status());
  return processes_.emplace(pid, std::move(entry)).first->second;
}

void StallCaptures::Offer(Capture capture) {
  if (capture.status != v1::PYTHON_STACK_CAPTURED) {
    failure_ = capture.status;
    failure_reason_ = capture.reason;
  } else if (capture.asleep_for_ns > 0) {
    if (!asleep_ || capture.asleep_for_ns > asleep_->asleep_for_ns) asleep_ = std::move(capture);
  } else if (!running_) {
    running_ = std::move(capture);
  }
}

const StallCaptures::Capture* StallCaptures::Choose(StackKind kind) const {
  const std::optional<Capture>& first = kind == StackKind::kBlockingSyscall ? asleep_ : running_;
  const std::optional<Capture>& second = kind == StackKind::kBlockingSyscall ? running_ : asleep_;
  if (first) return &*first;
  return second ? &*second : nullptr;
}

void PythonStacks::Apply(const StallCaptures::Capture& capture, v1::LoopBlock& block) {
  block.set_python_stack_status(capture.status);
  if (capture.status != v1::PYTHON_STACK_CAPTURED) {
    block.set_python_stack_reason(capture.reason);
    return;
  }
  // Captured, but possibly without a single name: then the reason says so.
  block.set_python_stack_reason(UnnamedFramesReason(capture.frames));
  if (capture.task.has_value()) {
    block.set_asyncio_task(capture.task->name);
    block.set_asyncio_coro(capture.task->coro);
  }
  block.set_python_stack_at_ns(capture.at_ns);
  block.set_gil_holder_tid(capture.gil_holder);
  // Native frames of the blocking call stay innermost; the Python frames that made it follow.
  for (const v1::Frame& frame : capture.frames) *block.add_stack() = frame;
}

StallCaptures::Capture PythonStacks::Read(const BusySnapshot& stall) {
  StallCaptures::Capture capture;
  ProcessEntry& entry = ProcessFor(stall.pid);
  if (!entry.process) {
    capture.status = entry.unavailable;
    capture.reason = entry.reason;
  } else if (auto frames = entry.process->ThreadStack(stall.tid); frames.ok()) {
    std::optional<pid_t> holder = entry.process->GilHolder();
    // Checked after the read: if the thread is still in this stall now, it was all along.
    if (still_stalled_(stall)) {
      capture.status = v1::PYTHON_STACK_CAPTURED;
      capture.frames = std::move(*frames);
      capture.at_ns = stall.duration_ns();
      if (stall.asleep_since_ns && stall.end_kernel_ns > stall.asleep_since_ns)
        capture.asleep_for_ns = stall.end_kernel_ns - stall.asleep_since_ns;
      if (holder) capture.gil_holder = static_cast<uint32_t>(*holder);
      capture.task = entry.process->RunningTaskOn(stall.tid);
    } else {
      capture.status = v1::PYTHON_STACK_NOT_CAPTURED;
      capture.reason = kPythonNotCapturedReason;
    }
  } else {
    capture.status = v1::PYTHON_STACK_READ_FAILED;
    capture.reason = PythonReadFailureReason(frames.status());
  }
  return capture;
}

void PythonStacks::OnInProgress(const BusySnapshot& stall, v1::LoopBlock& block) {
  StallCaptures::Capture capture = Read(stall);
  Apply(capture, block);
  if (ProcessEntry& entry = ProcessFor(stall.pid); entry.process)
    block.set_python_free_threaded(entry.process->free_threaded());
  CapturesFor(stall).captures.Offer(std::move(capture));
}

void PythonStacks::OnEarly(const BusySnapshot& period) {
  StallCaptures::Capture capture = Read(period);
  // A failed read says nothing yet: the in-progress reads may still succeed.
  if (capture.status == v1::PYTHON_STACK_CAPTURED) CapturesFor(period).captures.Offer(std::move(capture));
}

PythonStacks::ThreadCaptures& PythonStacks::CapturesFor(const BusySnapshot& stall) {
  std::vector<ThreadCaptures>& recent = by_tid_[stall.tid];
  for (ThreadCaptures& c : recent)
    if (c.pid == stall.pid && c.seq == stall.seq) return c;
  // Another process with a reused tid leaves nothing behind.
  std::erase_if(recent, [&](const ThreadCaptures& c) { return c.pid != stall.pid; });
  if (recent.size() >= kStallsKeptPerThread) recent.erase(recent.begin());
  recent.push_back(ThreadCaptures{stall.pid, stall.seq, {}});
  return recent.back();
}

void PythonStacks::OnFinal(const BusySnapshot& stall, v1::LoopBlock& block) {
  auto it = by_tid_.find(stall.tid);
  if (it != by_tid_.end()) {
    std::vector<ThreadCaptures>& recent = it->second;
    auto mine = std::find_if(recent.begin(), recent.end(), [&](const ThreadCaptures& c) {
      return c.pid == stall.pid && c.seq == stall.seq;
    });
    if (mine != recent.end()) {
      const StallCaptures& captures = mine->captures;
      if (const StallCaptures::Capture* chosen = captures.Choose(stall.stack_kind)) {
        Apply(*chosen, block);
      } else {
        block.set_python_stack_status(captures.failure());
        block.set_python_stack_reason(captures.failure_reason());
      }
      ProcessEntry& entry = ProcessFor(stall.pid);
      if (entry.process) block.set_python_free_threaded(entry.process->free_threaded());
      recent.erase(mine);
      if (recent.empty()) by_tid_.erase(it);
      return;
    }
  }
  ProcessEntry& entry = ProcessFor(stall.pid);
  block.set_python_stack_status(entry.process ? v1::PYTHON_STACK_NOT_CAPTURED : entry.unavailable);
  block.set_python_stack_reason(entry.process ? kPythonNotCapturedReason : entry.reason);
  if (entry.process) block.set_python_free_threaded(entry.process->free_threaded());
}

void PythonStacks::ForgetProcess(pid_t pid) {
  processes_.erase(pid);
  for (auto& [tid, recent] : by_tid_)
    std::erase_if(recent, [pid](const ThreadCaptures& c) { return c.pid == pid; });
  absl::erase_if(by_tid_, [](const auto& kv) { return kv.second.empty(); });
}

}  // namespace stallscope
