// Python frames for stalls: read while a stall is in progress (the agent knows a loop is stalled
// once it passes the threshold), kept for the stall's final report. A stall that ended before
// the agent could look says so (PYTHON_STACK_NOT_CAPTURED): never a stack from another moment.
#ifndef STALLSCOPE_AGENT_ATTACH_PYTHON_STACKS_H_
#define STALLSCOPE_AGENT_ATTACH_PYTHON_STACKS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/busy_snapshot.h"
#include "python/python_process.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

// The Python stacks read during one stall, and the one its final report shows: the one that
// matches the report's native frames. Under a blocking call's frames, a read taken while asleep
// in a call (the longest sleep seen), never one taken after the call returned (the handler
// already writing its response). Under a CPU sample, the first read taken on CPU: like the
// kernel's sample, still in the hot code, where a later one may land in the tail after it.
class StallCaptures {
 public:
  struct Capture {
    v1::PythonStackStatus status = v1::PYTHON_STACK_STATUS_UNSPECIFIED;
    std::vector<v1::Frame> frames;
    uint64_t at_ns = 0;         // into the stall
    uint64_t asleep_for_ns = 0; // how long the thread had slept in its call; 0: not asleep
    uint32_t gil_holder = 0;
    std::string reason;  // why there are no frames (LoopBlock.python_stack_reason)
    std::optional<RunningTask> task;  // the asyncio Task running then (3.14+)
  };

  void Offer(Capture capture);
  // The capture for a final report whose native frames are of `kind`; nullptr if none
  // succeeded (then failure() says why, if a read failed).
  const Capture* Choose(StackKind kind) const;
  v1::PythonStackStatus failure() const { return failure_; }
  const std::string& failure_reason() const { return failure_reason_; }

 private:
  std::optional<Capture> asleep_, running_;
  v1::PythonStackStatus failure_ = v1::PYTHON_STACK_STATUS_UNSPECIFIED;
  std::string failure_reason_;
};

// Why a process's interpreter could not be opened / a thread's frames not read, as a short
// phrase without pids or paths (counted by the summary and the daemon's metrics).
std::string PythonOpenFailureReason(const absl::Status& status);
std::string PythonReadFailureReason(const absl::Status& status);
// The reason for stalls whose frames were not read while they lasted.
inline constexpr char kPythonNotCapturedReason[] = "stall ended before the frames were read";
// The reason for frames found but none named: the code objects' names could not be decoded.
inline constexpr char kPythonNamesUnreadableReason[] = "Python frame names unreadable";
// kPythonNamesUnreadableReason when `frames` has Python frames and none of them is named (a
// stack of blanks must say why), else "".
std::string UnnamedFramesReason(const std::vector<v1::Frame>& frames);

class PythonStacks {
 public:
  // True while the thread is still inside the stall `stall` describes (checked with the kernel).
  using StillStalled = std::function<bool(const BusySnapshot& stall)>;

  explicit PythonStacks(StillStalled still_stalled) : still_stalled_(std::move(still_stalled)) {}

  // The stall is in progress: read the thread's Python frames now and add them to `block`.
  // Frames read after the stall ended (the loop may return to its wait between the kernel
  // snapshot and the read) are discarded, never shown as the stall's.
  void OnInProgress(const BusySnapshot& stall, v1::LoopBlock& block);
  // A busy period not yet past the threshold (LoopTracker::SetEarlyRead): read its frames now,
  // for its final report should it end as a stall before it is seen in progress.
  void OnEarly(const BusySnapshot& period);
  // The stall ended: add the read that matches its native frames (StallCaptures), or why none.
  void OnFinal(const BusySnapshot& stall, v1::LoopBlock& block);
  void ForgetProcess(pid_t pid);
  // The process's interpreter, opened once; nullptr when its stacks cannot be read.
  PythonProcess* Process(pid_t pid) { return ProcessFor(pid).process.get(); }

 private:
  struct ThreadCaptures {
    pid_t pid = 0;
    uint32_t seq = 0;  // the stall's busy period
    StallCaptures captures;
  };
  struct ProcessEntry {
    std::unique_ptr<PythonProcess> process;  // null when not readable
    v1::PythonStackStatus unavailable = v1::PYTHON_STACK_STATUS_UNSPECIFIED;
    std::string reason;  // why not readable
  };

  ProcessEntry& ProcessFor(pid_t pid);
  StallCaptures::Capture Read(const BusySnapshot& stall);
  static void Apply(const StallCaptures::Capture& capture, v1::LoopBlock& block);

  StillStalled still_stalled_;
  absl::flat_hash_map<pid_t, ProcessEntry> processes_;
  // The captures of a thread's recent stalls, oldest first: a stall's final report may come
  // after the thread's next stall was read in progress (a final held until the thread is known
  // to be a loop), and must still get its own frames.
  static constexpr size_t kStallsKeptPerThread = 4;
  ThreadCaptures& CapturesFor(const BusySnapshot& stall);
  absl::flat_hash_map<pid_t, std::vector<ThreadCaptures>> by_tid_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_ATTACH_PYTHON_STACKS_H_
