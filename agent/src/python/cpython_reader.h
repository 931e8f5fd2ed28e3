// Reads a CPython interpreter's threads and Python stacks out of another process's memory,
// given where _PyRuntime is and the version's struct layout. Everything read is treated as
// untrusted: the target keeps running, so pointers may be stale, freed or garbage. Walks are
// bounded, objects are type-checked against the interpreter's own type objects, copies of
// changing stacks are detected (see Stack), and a stack is only returned if its thread state
// still belongs to the same OS thread after the walk.
// Not thread-safe: one reader per target, used from one thread.
#ifndef STALLSCOPE_AGENT_PYTHON_CPYTHON_READER_H_
#define STALLSCOPE_AGENT_PYTHON_CPYTHON_READER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "python/asyncio_task.h"
#include "python/code_cache.h"
#include "python/cpython_layout.h"
#include "python/remote_memory.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

// Run-time addresses (load bias applied) of the interpreter's globals.
struct CPythonAddresses {
  uint64_t runtime = 0;       // _PyRuntime
  uint64_t code_type = 0;     // PyCode_Type
  uint64_t unicode_type = 0;  // PyUnicode_Type
  uint64_t bytes_type = 0;    // PyBytes_Type
};

// The asyncio Task a thread is running (3.14+).
struct RunningTask {
  std::string name;  // "Task-7", or the name given to it
  std::string coro;  // its coroutine's qualified name: "handle_client"
};

struct PythonThread {
  pid_t tid = 0;        // OS thread id (PyThreadState.native_thread_id, or via pthread_t)
  uint64_t tstate = 0;  // address of its PyThreadState
};

class CPythonReader {
 public:
  // Bounds on what one walk follows, against cycles and garbage.
  static constexpr int kMaxFrames = 256;
  static constexpr int kMaxThreads = 4096;
  static constexpr int kMaxInterpreters = 64;
  static constexpr size_t kMaxNameChars = 1024;
  static constexpr size_t kMaxFilenameChars = 4096;
  static constexpr size_t kMaxLinetableBytes = 1 << 20;
  // Reads of a stack that keeps changing while being copied (a running thread) before
  // settling for the part of it that held still.
  static constexpr int kMaxAttempts = 3;
  // How much of the top of a thread's frame stack is copied at once (about 50 frames), with
  // some room above the top for frames pushed since the thread state was read.
  static constexpr size_t kStackWindowBytes = 16 << 10;
  static constexpr size_t kStackWindowSlackBytes = 2 << 10;

  // `memory` must outlive the reader.
  CPythonReader(RemoteMemory* memory, const CPythonLayout& layout, CPythonAddresses addresses,
                size_t code_cache_capacity = 4096);

  // Every thread state of every interpreter.
  absl::StatusOr<std::vector<PythonThread>> Threads();

  // The Python frames of `thread`, innermost first. FailedPrecondition when the thread state
  // does not (or no longer) belong to thread.tid: it exited and the memory was reused.
  //
  // A running thread pushes and pops frames while they are copied, so a copy can join frames
  // from different moments. It is checked three ways: every frame is read again after the
  // walk and must not have changed; a frame's instruction pointer must lie in its own code
  // (else it was caught half-rewritten, and is dropped); frames on the thread's frame stack
  // must sit where CPython pushes a callee, right after its caller. A failed check retries the
  // read (kMaxAttempts); if the stack never holds still, only its outer frames that passed are
  // returned (the innermost calls change too fast to name), or Unavailable if none did.
  absl::StatusOr<std::vector<v1::Frame>> Stack(const PythonThread& thread);

  // The OS thread holding the GIL, nullopt when none does (always in free-threaded builds).
  absl::StatusOr<std::optional<pid_t>> GilHolder();

  // Where 3.14+ keeps the running asyncio Task (asyncio_task.h), and the int type for tasks
  // named by number; until set, RunningTaskOf finds nothing.
  void SetAsyncio(const AsyncioLayout& layout, uint64_t long_type) {
    asyncio_ = layout;
    long_type_ = long_type;
  }
  // The Task `thread` is running, nullopt if none (or no way to tell).
  absl::StatusOr<std::optional<RunningTask>> RunningTaskOf(const PythonThread& thread);

  const CodeCache& code_cache() const { return code_cache_; }

  struct Stats {
    uint64_t stacks = 0;     // Stack() calls that returned frames
    uint64_t retries = 0;    // reads repeated because the stack changed while being copied
    uint64_t truncated = 0;  // stacks returned without their still-changing inner frames
  };
  const Stats& stats() const { return stats_; }

 private:
  struct RawFrame {
    uint64_t address = 0;
    uint64_t code = 0;
    uint64_t previous = 0;
    uint64_t instr = 0;  // prev_instr or instr_ptr, per version
    uint8_t owner = 0;
    int32_t tlbc_index = 0;  // free-threaded 3.14+: which copy of the bytecode instr is in

    // Same frame, same call: the instruction pointer of a running frame moves all the time
    // and says nothing about the chain.
    bool SameCall(const RawFrame& other) const {
      return address == other.address && code == other.code && previous == other.previous &&
             owner == other.owner;
    }
  };
  RawFrame ParseFrame(uint64_t address, const unsigned char* block) const;
  // An entry frame of the C stack or the interpreter (3.12+), not Python code.
  bool IsCStackEntry(const RawFrame& frame) const {
    return layout_.frame_model == FrameModel::kInterpreterFrame &&
           frame.owner >= layout_.frame_owner_cstack;
  }
  // Where the code units `frame.instr` points into start: co_code_adaptive, or in free-threaded
  // 3.14+ the thread's own copy (co_tlbc->entries[tlbc_index]); 0 if unreadable.
  absl::StatusOr<uint64_t> InstructionBase(const RawFrame& frame, const unsigned char* header);
  // co_firsttraceable of a copied code header, 0 when the value read is out of bounds.
  int32_t FirstTraceable(const unsigned char* header) const;
  // Bytes a frame of this code object takes on the thread's frame stack.
  uint64_t FrameBytes(const unsigned char* code_header) const;

  // A copy of the top of the thread's frame stack, taken in one read: most frames of a
  // thread are parsed from it instead of being read one by one.
  struct StackWindow {
    uint64_t chunk_start = 0;  // the thread's current frame stack chunk
    uint64_t chunk_end = 0;
    uint64_t start = 0;
    std::vector<unsigned char> bytes;
    bool InChunk(uint64_t address) const { return address >= chunk_start && address < chunk_end; }
    bool Contains(uint64_t address, size_t size) const {
      return address >= start && address - start + size <= bytes.size();
    }
  };

  // The frames linked from the thread's current frame, outward; at most kMaxFrames.
  absl::StatusOr<std::vector<RawFrame>> ReadFrameChain(uint64_t first_frame,
                                                       const StackWindow& window);
  // Where the window is (its bytes sized, not yet read); empty if the thread has no frame stack.
  StackWindow PlanStackWindow(const unsigned char* tstate_block) const;
  // Copies `required` and `optional` in one read. If that fails, `required` alone must be
  // readable (else the error); unreadable optional ranges are zeroed.
  absl::Status ReadWithFallback(std::span<const RemoteRead> required,
                                std::span<const RemoteRead> optional);
  // A thread's frame chain as copied once (steps 1 and 2 of a walk: thread state, frames).
  struct CopiedChain {
    uint64_t frame_pointer_at = 0;  // where the current frame pointer is; 0: no Python code
    uint64_t first_frame = 0;
    int64_t identity = 0;  // the thread state's thread id field, as read
    StackWindow window;
    std::vector<RawFrame> frames;  // innermost first
    bool broken = false;           // before 3.11: a dead frame ended the chain
    std::vector<uint64_t> codes;   // distinct code objects of the frames...
    absl::flat_hash_map<uint64_t, size_t> code_index;  // ...and where each is in `codes`
    std::vector<unsigned char> headers;                // their copied headers (step 3)
    // Only for frames that are not C-stack entries (those have no code object).
    const unsigned char* HeaderOf(const RawFrame& frame, size_t header_size) const {
      return headers.data() + code_index.at(frame.code) * header_size;
    }
  };
  absl::StatusOr<CopiedChain> CopyChain(const PythonThread& thread);
  // Step 3: the code objects' headers, and the thread id and frames read again. Returns the
  // index of the innermost frame of the outer run that held still (frames.size(): none).
  absl::StatusOr<size_t> ReadCodesAndRecheck(const PythonThread& thread, CopiedChain& copy);
  // Step 4: the code unit a frame stopped at; nullopt if its instruction pointer is outside
  // its code (caught half-rewritten).
  absl::StatusOr<std::optional<int64_t>> CodeUnitOf(const RawFrame& raw,
                                                    const unsigned char* header);
  // Step 5: the line of a code unit, per the version's line table format.
  std::optional<int> LineOf(const CodeInfo& info, int64_t code_unit) const;
  bool IsCode(const unsigned char* header) const {
    return Field<uint64_t>(header, layout_.object_type) == addresses_.code_type;
  }
  // One attempt. `settled` is how many of the outermost frames were the same when read again
  // after the walk (all of them: the stack did not change while it was copied).
  absl::StatusOr<std::vector<v1::Frame>> ReadStackOnce(const PythonThread& thread, size_t* settled);
  // The decoded code object, from the cache or read now; null if its strings are unreadable.
  std::shared_ptr<const CodeInfo> Decode(uint64_t code, const unsigned char* header);
  absl::StatusOr<CodeInfo> ReadCodeInfo(const unsigned char* header);
  // The OS thread id of a copied thread state (0 if unknown): native_thread_id (3.11+), or the
  // tid in the glibc struct pthread its thread_id (pthread_t) points to.
  absl::StatusOr<int64_t> ThreadIdOf(const unsigned char* tstate_block);
  // The thread state field that names its thread: native_thread_id, or thread_id before 3.11.
  uint32_t ThreadIdentityField() const;
  // The PyThreadState holding the GIL, 0 when it is not held.
  absl::StatusOr<uint64_t> GilHoldingTstate();

  // A str object's text (at most max_chars characters); nullopt if it is not a str.
  absl::StatusOr<std::optional<std::string>> ReadStr(uint64_t address, size_t max_chars);

  RemoteMemory* memory_;
  const CPythonLayout& layout_;
  std::optional<AsyncioLayout> asyncio_;
  uint64_t long_type_ = 0;
  CPythonAddresses addresses_;
  CodeCache code_cache_;
  uint64_t gil_ = 0;  // 3.12+: the main interpreter's struct _gil_runtime_state, once known
  Stats stats_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_CPYTHON_READER_H_
