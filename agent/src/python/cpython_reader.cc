#include "python/cpython_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "python/location_table.h"
#include "python/module_name.h"
#include "python/python_strings.h"

namespace stallscope {
namespace {

// A pointer the target could really hold to one of its objects: user space, 8-byte aligned.
bool Plausible(uint64_t address) {
  return address >= 4096 && address % 8 == 0 && address < (uint64_t{1} << 57);
}

// Errors that end every further read of this target.
bool IsFatal(const absl::Status& status) {
  return absl::IsNotFound(status) || absl::IsPermissionDenied(status);
}

// Before 3.11 a thread state names its thread only by pthread_t, the address of glibc's
// struct pthread, whose `tid` field holds the OS thread id. Where that field is: glibc's own
// _thread_db_pthread_tid descriptor (x86_64: 0x2d0, aarch64: 0xd0; checked with glibc 2.36
// against gettid()). Another libc (musl) gives ids that match no thread: threads not found.
#if defined(__x86_64__)
constexpr uint64_t kPthreadTidOffset = 0x2d0;
#elif defined(__aarch64__)
constexpr uint64_t kPthreadTidOffset = 0xd0;
#else
#error "struct pthread's tid offset is not known for this architecture"
#endif

}  // namespace

CPythonReader::CPythonReader(RemoteMemory* memory, const CPythonLayout& layout,
                             CPythonAddresses addresses, size_t code_cache_capacity)
    : memory_(memory), layout_(layout), addresses_(addresses), code_cache_(code_cache_capacity) {}

absl::StatusOr<std::vector<PythonThread>> CPythonReader::Threads() {
  uint64_t interp = 0;
  absl::Status status =
      memory_->ReadValue(addresses_.runtime + layout_.runtime_interpreters_head, &interp);
  if (!status.ok()) return status;

  std::vector<PythonThread> threads;
  absl::flat_hash_set<uint64_t> seen;
  std::vector<unsigned char> tstate_block(layout_.TstateReadSize());
  for (int i = 0; i < kMaxInterpreters && Plausible(interp); ++i) {
    // Two fields, far apart in 3.13's large interpreter state: one read, two ranges.
    uint64_t next_interp = 0;
    uint64_t tstate = 0;
    RemoteRead reads[] = {
        {.address = interp + layout_.interp_next, .buffer = &next_interp, .size = 8},
        {.address = interp + layout_.interp_threads_head, .buffer = &tstate, .size = 8},
    };
    status = memory_->ReadMany(reads);
    if (!status.ok()) return status;
    while (Plausible(tstate) && threads.size() < static_cast<size_t>(kMaxThreads) &&
           seen.insert(tstate).second) {
      status = memory_->Read(tstate, tstate_block.data(), tstate_block.size());
      if (IsFatal(status)) return status;
      if (!status.ok()) break;  // freed under us: the rest of this list is unreliable
      absl::StatusOr<int64_t> thread_id = ThreadIdOf(tstate_block.data());
      if (!thread_id.ok()) return thread_id.status();
      int64_t tid = *thread_id;
      if (tid > 0 && tid <= INT32_MAX) {
        threads.push_back({.tid = static_cast<pid_t>(tid), .tstate = tstate});
      }
      tstate = Field<uint64_t>(tstate_block.data(), layout_.tstate_next);
    }
    interp = next_interp;
  }
  return threads;
}

absl::StatusOr<int64_t> CPythonReader::ThreadIdOf(const unsigned char* tstate_block) {
  if (layout_.tstate_native_thread_id != kNoField) {
    return Field<int64_t>(tstate_block, layout_.tstate_native_thread_id);
  }
  uint64_t pthread = Field<uint64_t>(tstate_block, layout_.tstate_thread_id);
  if (!Plausible(pthread)) return int64_t{0};
  int32_t tid = 0;
  absl::Status status = memory_->ReadValue(pthread + kPthreadTidOffset, &tid);
  if (IsFatal(status)) return status;
  return status.ok() ? int64_t{tid} : int64_t{0};
}

uint32_t CPythonReader::ThreadIdentityField() const {
  return layout_.tstate_native_thread_id != kNoField ? layout_.tstate_native_thread_id
                                                     : layout_.tstate_thread_id;
}

CPythonReader::StackWindow CPythonReader::PlanStackWindow(const unsigned char* tstate_block) const {
  StackWindow window;
  if (layout_.tstate_datastack_chunk == kNoField) return window;  // before 3.11: heap frames
  uint64_t chunk = Field<uint64_t>(tstate_block, layout_.tstate_datastack_chunk);
  uint64_t top = Field<uint64_t>(tstate_block, layout_.tstate_datastack_top);
  uint64_t limit = Field<uint64_t>(tstate_block, layout_.tstate_datastack_limit);
  if (!Plausible(chunk) || !Plausible(top) || !Plausible(limit) || top <= chunk || limit < top) {
    return window;
  }
  window.chunk_start = chunk;
  window.chunk_end = limit;
  // Frames sit between the chunk's start and top; the whole chunk is mapped.
  uint64_t end = std::min(limit, top + kStackWindowSlackBytes);
  window.start = end - chunk > kStackWindowBytes ? end - kStackWindowBytes : chunk;
  window.bytes.resize(end - window.start);
  return window;
}

CPythonReader::RawFrame CPythonReader::ParseFrame(uint64_t address,
                                                  const unsigned char* block) const {
  // Before 3.11, f_lasti: an int, kept sign-extended (-1: not started).
  uint64_t instr = layout_.frame_model == FrameModel::kFrameObject
                       ? static_cast<uint64_t>(int64_t{Field<int32_t>(block, layout_.frame_instr)})
                       : Field<uint64_t>(block, layout_.frame_instr);
  uint64_t code = Field<uint64_t>(block, layout_.frame_code);
  // 3.14+: f_executable is a _PyStackRef whose low bits are tags; objects are 8-byte aligned,
  // so clearing them is harmless for the older plain pointers.
  if (layout_.frame_model == FrameModel::kInterpreterFrame) code &= ~uint64_t{7};
  return {.address = address,
          .code = code,
          .previous = Field<uint64_t>(block, layout_.frame_previous),
          .instr = instr,
          .owner = Field<uint8_t>(block, layout_.frame_owner),
          .tlbc_index = layout_.frame_tlbc_index == kNoField
                            ? 0
                            : Field<int32_t>(block, layout_.frame_tlbc_index)};
}

uint64_t CPythonReader::FrameBytes(const unsigned char* code_header) const {
  int64_t words;
  if (layout_.code_framesize != kNoField) {
    words = Field<int32_t>(code_header, layout_.code_framesize);
    // co_framesize is derived, not published, for 3.13+ (debug_offsets.cc): a value no frame
    // could have matches no callee, which only drops inner frames, never names wrong ones.
    if (words <= 0 || words > (1 << 20)) return 0;
  } else {
    words = int64_t{layout_.frame_specials_words} +
            Field<int32_t>(code_header, layout_.code_nlocalsplus) +
            Field<int32_t>(code_header, layout_.code_stacksize);
  }
  return static_cast<uint64_t>(words) * 8;
}

absl::StatusOr<std::vector<CPythonReader::RawFrame>> CPythonReader::ReadFrameChain(
    uint64_t frame, const StackWindow& window) {
  std::vector<RawFrame> chain;
  std::vector<uint64_t> visited;
  unsigned char block[128];
  const uint32_t frame_size = layout_.FrameReadSize();
  if (frame_size > sizeof(block)) return absl::InternalError("frame layout");
  while (Plausible(frame) && chain.size() < static_cast<size_t>(kMaxFrames)) {
    // Frames form a chain; revisiting one means garbage links (or a frame reused mid-walk).
    if (std::find(visited.begin(), visited.end(), frame) != visited.end()) break;
    visited.push_back(frame);
    if (window.Contains(frame, frame_size)) {
      memcpy(block, window.bytes.data() + (frame - window.start), frame_size);
    } else {
      absl::Status status = memory_->Read(frame, block, frame_size);
      if (!status.ok()) {
        if (IsFatal(status) || chain.empty()) return status;
        break;  // the rest of the chain was freed under us: keep the inner frames
      }
    }
    chain.push_back(ParseFrame(frame, block));
    frame = chain.back().previous;
  }
  return chain;
}

absl::Status CPythonReader::ReadWithFallback(std::span<const RemoteRead> required,
                                             std::span<const RemoteRead> optional) {
  std::vector<RemoteRead> reads(required.begin(), required.end());
  reads.insert(reads.end(), optional.begin(), optional.end());
  absl::Status status = memory_->ReadMany(reads);
  if (status.ok() || IsFatal(status)) return status;
  // Something was freed under us: find what, one range at a time.
  status = memory_->ReadMany(required);
  if (!status.ok()) return status;
  for (const RemoteRead& read : optional) {
    status = memory_->ReadMany({&read, 1});
    if (IsFatal(status)) return status;
    if (!status.ok()) memset(read.buffer, 0, read.size);
  }
  return absl::OkStatus();
}

absl::StatusOr<CodeInfo> CPythonReader::ReadCodeInfo(const unsigned char* header) {
  uint64_t filename = Field<uint64_t>(header, layout_.code_filename);
  uint64_t qualname = Field<uint64_t>(header, layout_.code_qualname);
  uint64_t linetable = Field<uint64_t>(header, layout_.code_linetable);
  if (!Plausible(filename) || !Plausible(qualname) || !Plausible(linetable)) {
    return absl::DataLossError("code object with bad pointers");
  }

  // First the three objects' headers, then their contents: two reads per code object.
  const uint32_t str_header = layout_.unicode_ascii_data;
  std::vector<unsigned char> headers(2 * str_header + layout_.bytes_data);
  RemoteRead header_reads[] = {
      {.address = qualname, .buffer = headers.data(), .size = str_header},
      {.address = filename, .buffer = headers.data() + str_header, .size = str_header},
      {.address = linetable, .buffer = headers.data() + 2 * str_header, .size = layout_.bytes_data},
  };
  absl::Status status = memory_->ReadMany(header_reads);
  if (!status.ok()) return status;
  std::optional<StrShape> qualname_shape =
      ParseStrHeader(headers.data(), layout_, addresses_.unicode_type, kMaxNameChars);
  std::optional<StrShape> filename_shape = ParseStrHeader(
      headers.data() + str_header, layout_, addresses_.unicode_type, kMaxFilenameChars);
  const unsigned char* bytes_header = headers.data() + 2 * str_header;
  if (!qualname_shape || !filename_shape ||
      Field<uint64_t>(bytes_header, layout_.object_type) != addresses_.bytes_type) {
    return absl::DataLossError("code object names are not strings");
  }
  int64_t table_size = Field<int64_t>(bytes_header, layout_.var_object_size);
  if (table_size < 0) return absl::DataLossError("negative line table size");
  // A table too large to copy only costs the line number (reported as 0).
  size_t table_bytes =
      static_cast<uint64_t>(table_size) <= kMaxLinetableBytes ? static_cast<size_t>(table_size) : 0;

  std::string qualname_data(qualname_shape->DataBytes(), '\0');
  std::string filename_data(filename_shape->DataBytes(), '\0');
  CodeInfo info;
  info.linetable.resize(table_bytes);
  RemoteRead data_reads[] = {
      {.address = qualname + qualname_shape->data_offset,
       .buffer = qualname_data.data(),
       .size = qualname_data.size()},
      {.address = filename + filename_shape->data_offset,
       .buffer = filename_data.data(),
       .size = filename_data.size()},
      {.address = linetable + layout_.bytes_data,
       .buffer = info.linetable.data(),
       .size = info.linetable.size()},
  };
  status = memory_->ReadMany(data_reads);
  if (!status.ok()) return status;

  info.qualname =
      StrDataToUtf8(reinterpret_cast<const unsigned char*>(qualname_data.data()), *qualname_shape);
  info.filename =
      StrDataToUtf8(reinterpret_cast<const unsigned char*>(filename_data.data()), *filename_shape);
  info.module = ModuleFromFilename(info.filename);
  info.first_line = Field<int32_t>(header, layout_.code_firstlineno);
  info.code_units = Field<int64_t>(header, layout_.var_object_size);
  return info;
}

std::shared_ptr<const CodeInfo> CPythonReader::Decode(uint64_t code, const unsigned char* header) {
  CodeIdentity identity{.filename = Field<uint64_t>(header, layout_.code_filename),
                        .name = Field<uint64_t>(header, layout_.code_name),
                        .qualname = Field<uint64_t>(header, layout_.code_qualname),
                        .linetable = Field<uint64_t>(header, layout_.code_linetable),
                        .first_line = Field<int32_t>(header, layout_.code_firstlineno),
                        .code_units = Field<int64_t>(header, layout_.var_object_size)};
  if (std::shared_ptr<const CodeInfo> cached = code_cache_.Find(code, identity)) return cached;
  absl::StatusOr<CodeInfo> info = ReadCodeInfo(header);
  if (!info.ok()) return nullptr;
  return code_cache_.Insert(code, identity, *std::move(info));
}

absl::StatusOr<std::vector<v1::Frame>> CPythonReader::Stack(const PythonThread& thread) {
  absl::StatusOr<std::vector<v1::Frame>> stack;
  size_t settled = 0;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    if (attempt > 0) ++stats_.retries;
    stack = ReadStackOnce(thread, &settled);
    if (!stack.ok()) return stack;
    if (settled == stack->size()) {
      ++stats_.stacks;
      return stack;
    }
  }
  if (settled == 0) {
    return absl::UnavailableError(absl::StrFormat(
        "the stack of thread %d changed during each of %d reads", thread.tid, kMaxAttempts));
  }
  ++stats_.stacks;
  ++stats_.truncated;
  stack->erase(stack->begin(), stack->end() - static_cast<long>(settled));
  return stack;
}

absl::StatusOr<CPythonReader::CopiedChain> CPythonReader::CopyChain(const PythonThread& thread) {
  CopiedChain copy;
  // Step 1, the thread state: still this thread's, and where its current frame pointer is.
  if (!Plausible(thread.tstate)) return absl::InvalidArgumentError("bad thread state address");
  std::vector<unsigned char> tstate_block(layout_.TstateReadSize());
  absl::Status status = memory_->Read(thread.tstate, tstate_block.data(), tstate_block.size());
  if (!status.ok()) return status;
  absl::StatusOr<int64_t> thread_id = ThreadIdOf(tstate_block.data());
  if (!thread_id.ok()) return thread_id.status();
  if (*thread_id != thread.tid) {
    return absl::FailedPreconditionError(
        absl::StrFormat("thread state 0x%x is not thread %d's", thread.tstate, thread.tid));
  }
  copy.identity = Field<int64_t>(tstate_block.data(), ThreadIdentityField());
  // In the thread state (3.13+; PyThreadState.frame before 3.11), or in its current _PyCFrame
  // (3.11, 3.12).
  if (layout_.frame_model == FrameModel::kFrameObject) {
    copy.frame_pointer_at = thread.tstate + layout_.tstate_frame;
  } else if (layout_.tstate_cframe == kNoField) {
    copy.frame_pointer_at = thread.tstate + layout_.tstate_current_frame;
  } else {
    uint64_t cframe = Field<uint64_t>(tstate_block.data(), layout_.tstate_cframe);
    if (cframe == 0) return copy;  // not running Python code
    if (!Plausible(cframe)) return absl::DataLossError("bad cframe pointer");
    copy.frame_pointer_at = cframe + layout_.cframe_current_frame;
  }

  // Step 2, the frame chain: the current frame pointer and the top of the frame stack in one
  // read, then the frames linked from it.
  copy.window = PlanStackWindow(tstate_block.data());
  std::vector<RemoteRead> reads = {{.address = copy.frame_pointer_at,
                                    .buffer = &copy.first_frame,
                                    .size = sizeof(copy.first_frame)}};
  if (!copy.window.bytes.empty()) {
    reads.push_back({.address = copy.window.start,
                     .buffer = copy.window.bytes.data(),
                     .size = copy.window.bytes.size()});
  }
  status = memory_->ReadMany(reads);
  if (!status.ok() && !copy.window.bytes.empty() && !IsFatal(status)) {
    copy.window.bytes.clear();  // a stale window: read the frames one by one instead
    reads.pop_back();
    status = memory_->ReadMany(reads);
  }
  if (!status.ok()) return status;
  absl::StatusOr<std::vector<RawFrame>> chain = ReadFrameChain(copy.first_frame, copy.window);
  if (!chain.ok()) return chain.status();
  copy.frames = *std::move(chain);
  // Before 3.11: a frame not executing is a dead one (its f_back stale), reached through a
  // link copied before the chain changed. It and what it links to are not the thread's.
  if (layout_.frame_model == FrameModel::kFrameObject) {
    for (size_t i = 0; i < copy.frames.size(); ++i) {
      if (copy.frames[i].owner != layout_.frame_executing) {
        copy.frames.resize(i);
        copy.broken = true;
        break;
      }
    }
  }
  for (const RawFrame& raw : copy.frames) {
    if (IsCStackEntry(raw)) continue;
    if (copy.code_index.emplace(raw.code, copy.codes.size()).second) copy.codes.push_back(raw.code);
  }
  return copy;
}

absl::StatusOr<size_t> CPythonReader::ReadCodesAndRecheck(const PythonThread& thread,
                                                          CopiedChain& copy) {
  // Step 3, the code objects; with them, the thread's id and every frame again. The same id:
  // the frames were still this thread's (its state was not freed and reused). The same frames:
  // the chain did not change while we copied it (a running thread pushes and pops frames
  // while we read), so it is one the thread really had.
  // (Before 3.11 the thread's pthread_t, which names the same thread as its id; and also the
  // thread's current frame: frames are reused, so a chain is only known to be whole if its
  // first frame is still the thread's current one.)
  int64_t tid_after = 0;
  uint64_t first_frame_after = copy.first_frame;
  std::vector<RemoteRead> required = {
      {.address = thread.tstate + ThreadIdentityField(),
       .buffer = &tid_after,
       .size = sizeof(tid_after)},
  };
  if (layout_.frame_model == FrameModel::kFrameObject) {
    required.push_back(
        {.address = copy.frame_pointer_at, .buffer = &first_frame_after, .size = sizeof(uint64_t)});
  }
  const size_t header_size = layout_.CodeReadSize();
  const size_t frame_size = layout_.FrameReadSize();
  copy.headers.assign(copy.codes.size() * header_size, 0);
  std::vector<unsigned char> frames_after(copy.frames.size() * frame_size, 0);
  std::vector<RemoteRead> optional;
  optional.reserve(copy.codes.size() + copy.frames.size());
  for (size_t i = 0; i < copy.codes.size(); ++i) {
    if (!Plausible(copy.codes[i])) continue;  // stays zeroed: not a code object
    optional.push_back({.address = copy.codes[i],
                        .buffer = copy.headers.data() + i * header_size,
                        .size = header_size});
  }
  for (size_t i = 0; i < copy.frames.size(); ++i) {
    optional.push_back({.address = copy.frames[i].address,
                        .buffer = frames_after.data() + i * frame_size,
                        .size = frame_size});
  }
  absl::Status status = ReadWithFallback(required, optional);
  if (!status.ok()) return status;
  if (tid_after != copy.identity) {
    return absl::FailedPreconditionError(
        absl::StrFormat("thread %d exited during the read", thread.tid));
  }
  // Which raw frames held still: from the outermost inward, up to the first that changed.
  // (Nothing held still if a dead frame was met or the thread's current frame changed.)
  size_t stable_from = copy.frames.size();
  const bool whole = !copy.broken && first_frame_after == copy.first_frame;
  while (whole && stable_from > 0 &&
         ParseFrame(copy.frames[stable_from - 1].address,
                    frames_after.data() + (stable_from - 1) * frame_size)
             .SameCall(copy.frames[stable_from - 1])) {
    --stable_from;
  }
  // Frames on the thread's frame stack are packed: a callee starts where its caller ends. A
  // link that breaks this joins frames copied at different moments: the inner part is stale.
  for (size_t i = 0; i + 1 < copy.frames.size(); ++i) {
    const RawFrame& callee = copy.frames[i];
    const RawFrame& caller = copy.frames[i + 1];
    if (callee.owner != layout_.frame_owner_thread || caller.owner != layout_.frame_owner_thread ||
        !copy.window.InChunk(callee.address) || !copy.window.InChunk(caller.address)) {
      continue;
    }
    const unsigned char* header = copy.HeaderOf(caller, header_size);
    if (!IsCode(header)) continue;
    if (caller.address + FrameBytes(header) != callee.address) {
      stable_from = std::max(stable_from, i + 1);
    }
  }
  return stable_from;
}

absl::StatusOr<std::optional<int64_t>> CPythonReader::CodeUnitOf(const RawFrame& raw,
                                                                 const unsigned char* header) {
  int64_t unit;
  int64_t units_in_code;
  if (layout_.frame_model == FrameModel::kFrameObject) {
    // f_lasti; co_code is not copied, so its length bounds nothing here (the line tables
    // do: an offset past them gets no line).
    int64_t lasti = static_cast<int64_t>(raw.instr);
    unit = lasti < 0 ? -1 : layout_.lasti_in_code_units ? lasti : lasti / 2;
    units_in_code = int64_t{1} << 30;
  } else {
    absl::StatusOr<uint64_t> base = InstructionBase(raw, header);
    if (!base.ok()) return base.status();
    if (*base == 0) return std::optional<int64_t>();
    unit = static_cast<int64_t>(raw.instr - *base) / 2;
    units_in_code = Field<int64_t>(header, layout_.var_object_size);
  }
  // One unit before the code: a generator that has not started.
  if (unit >= -1 && unit < units_in_code) return std::optional<int64_t>(unit);
  return std::optional<int64_t>();
}

absl::StatusOr<uint64_t> CPythonReader::InstructionBase(const RawFrame& frame,
                                                        const unsigned char* header) {
  const uint64_t own = frame.code + layout_.code_bytecode;
  if (layout_.code_tlbc == kNoField || frame.tlbc_index == 0) return own;
  // struct _PyCodeArray {Py_ssize_t size; char *entries[];}; entries[0] is co_code_adaptive.
  uint64_t array = Field<uint64_t>(header, layout_.code_tlbc);
  if (!Plausible(array) || frame.tlbc_index < 0) return uint64_t{0};
  uint64_t entry[2] = {0, 0};  // size, then the entry
  RemoteRead reads[] = {
      {.address = array, .buffer = &entry[0], .size = 8},
      {.address = array + 8 + 8 * static_cast<uint64_t>(frame.tlbc_index),
       .buffer = &entry[1],
       .size = 8},
  };
  absl::Status status = memory_->ReadMany(reads);
  if (IsFatal(status)) return status;
  if (!status.ok() || static_cast<int64_t>(entry[0]) <= frame.tlbc_index) return uint64_t{0};
  return entry[1];
}

int32_t CPythonReader::FirstTraceable(const unsigned char* header) const {
  if (layout_.code_firsttraceable == kNoField) return 0;
  int32_t value = Field<int32_t>(header, layout_.code_firsttraceable);
  int64_t units = Field<int64_t>(header, layout_.var_object_size);
  if (value < 0 || units <= 0) return 0;
  // Past the end: the interpreter's own shim code (3.13+'s `_Py_InitCleanup`, which runs a
  // constructor's __init__ and is named "__init__" in a file "__init__") is never traceable.
  return static_cast<int32_t>(std::min<int64_t>(value, units));
}

std::optional<int> CPythonReader::LineOf(const CodeInfo& info, int64_t code_unit) const {
  switch (layout_.line_format) {
    case LineFormat::kLocationTable:
      return LineForCodeUnit(info.linetable, info.first_line, static_cast<int>(code_unit));
    case LineFormat::kLineTable310:
      return LineForByteOffset310(info.linetable, info.first_line,
                                  code_unit < 0 ? -1 : static_cast<int>(code_unit * 2));
    case LineFormat::kLnotab:
      return LineForByteOffsetLnotab(info.linetable, info.first_line,
                                     code_unit < 0 ? -1 : static_cast<int>(code_unit * 2));
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<v1::Frame>> CPythonReader::ReadStackOnce(const PythonThread& thread,
                                                                    size_t* settled) {
  *settled = 0;
  absl::StatusOr<CopiedChain> copy = CopyChain(thread);
  if (!copy.ok()) return copy.status();
  if (copy->frame_pointer_at == 0) return std::vector<v1::Frame>();
  absl::StatusOr<size_t> stable = ReadCodesAndRecheck(thread, *copy);
  if (!stable.ok()) return stable.status();
  size_t stable_from = *stable;  // index of the innermost of the stable outer run
  const size_t header_size = layout_.CodeReadSize();

  // Step 4, where each frame stopped, in code units; frames caught half-rewritten (the
  // instruction pointer outside their code: code and position of different calls) make the
  // frames inside them suspect too.
  const std::vector<RawFrame>& chain = copy->frames;
  std::vector<std::optional<int64_t>> code_units(chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    const RawFrame& raw = chain[i];
    if (IsCStackEntry(raw)) continue;  // not indexed: no code object
    const unsigned char* header = copy->HeaderOf(raw, header_size);
    if (!IsCode(header)) continue;
    absl::StatusOr<std::optional<int64_t>> unit = CodeUnitOf(raw, header);
    if (!unit.ok()) return unit.status();
    code_units[i] = *unit;
    if (!unit->has_value()) stable_from = std::max(stable_from, i + 1);
  }

  // Step 5, names and lines.
  std::vector<v1::Frame> frames;
  frames.reserve(chain.size());
  size_t unsettled_frames = 0;  // output frames made from raw frames that changed
  for (size_t index = 0; index < chain.size(); ++index) {
    const RawFrame& raw = chain[index];
    if (IsCStackEntry(raw)) continue;  // entry frames of the C stack (3.12+): not Python code
    const unsigned char* header = copy->HeaderOf(raw, header_size);
    // A frame whose code is not a code object was reused under us, and so may be what it
    // links to: stop here.
    if (!IsCode(header)) break;
    if (!code_units[index].has_value()) continue;  // half-rewritten
    int64_t code_unit = *code_units[index];
    // Frames still being set up (before their first RESUME) are not part of the Python stack,
    // as for CPython's own tracebacks; generator frames are always complete.
    if (raw.owner != layout_.frame_owner_generator && code_unit < FirstTraceable(header)) {
      continue;
    }
    std::shared_ptr<const CodeInfo> info = Decode(raw.code, header);
    if (index < stable_from) ++unsettled_frames;
    v1::Frame& frame = frames.emplace_back();
    frame.set_kind(v1::Frame::PYTHON);
    if (info == nullptr) continue;  // names unreadable: keep the frame's place, unnamed
    frame.set_function(info->qualname);
    frame.set_file(info->filename);
    frame.set_module(info->module);
    std::optional<int> line = LineOf(*info, code_unit);
    if (line.has_value() && *line > 0) frame.set_line(static_cast<uint32_t>(*line));
  }
  *settled = frames.size() - unsettled_frames;
  return frames;
}

absl::StatusOr<uint64_t> CPythonReader::GilHoldingTstate() {
  uint64_t tstate = 0;
  int32_t locked = 0;
  if (layout_.gil_source == GilSource::kTstateCurrent) {
    RemoteRead reads[] = {
        {.address = addresses_.runtime + layout_.runtime_tstate_current,
         .buffer = &tstate,
         .size = sizeof(tstate)},
        {.address = addresses_.runtime + layout_.runtime_gil_locked,
         .buffer = &locked,
         .size = sizeof(locked)},
    };
    absl::Status status = memory_->ReadMany(reads);
    if (!status.ok()) return status;
    return locked == 1 ? tstate : 0;
  }
  // The main interpreter's GIL: where it is does not change once the interpreter runs.
  if (gil_ == 0) {
    uint64_t interp = 0;
    absl::Status status =
        memory_->ReadValue(addresses_.runtime + layout_.runtime_interpreters_main, &interp);
    if (!status.ok()) return status;
    if (!Plausible(interp)) return uint64_t{0};
    uint64_t gil = 0;
    status = memory_->ReadValue(interp + layout_.interp_ceval_gil, &gil);
    if (!status.ok()) return status;
    if (!Plausible(gil)) return uint64_t{0};
    gil_ = gil;
  }
  // last_holder is set by the thread that takes the GIL, after it holds it.
  RemoteRead reads[] = {
      {.address = gil_ + layout_.gil_last_holder, .buffer = &tstate, .size = sizeof(tstate)},
      {.address = gil_ + layout_.gil_locked, .buffer = &locked, .size = sizeof(locked)},
  };
  absl::Status status = memory_->ReadMany(reads);
  if (!status.ok()) return status;
  return locked == 1 ? tstate : 0;
}

absl::StatusOr<std::optional<pid_t>> CPythonReader::GilHolder() {
  // Free-threaded builds run without a GIL (PYTHON_GIL=1 can bring it back, but the report
  // then says "free-threaded" rather than naming a holder).
  if (layout_.free_threaded) return std::optional<pid_t>();
  absl::StatusOr<uint64_t> tstate = GilHoldingTstate();
  if (!tstate.ok()) return tstate.status();
  if (!Plausible(*tstate)) return std::optional<pid_t>();
  std::vector<unsigned char> tstate_block(layout_.TstateReadSize());
  absl::Status status = memory_->Read(*tstate, tstate_block.data(), tstate_block.size());
  if (IsFatal(status)) return status;
  if (!status.ok()) return std::optional<pid_t>();
  absl::StatusOr<int64_t> thread_id = ThreadIdOf(tstate_block.data());
  if (!thread_id.ok()) return thread_id.status();
  int64_t tid = *thread_id;
  if (tid <= 0 || tid > INT32_MAX) return std::optional<pid_t>();
  return std::optional<pid_t>(static_cast<pid_t>(tid));
}


absl::StatusOr<std::optional<std::string>> CPythonReader::ReadStr(uint64_t address,
                                                                 size_t max_chars) {
  if (!Plausible(address)) return std::optional<std::string>();
  std::vector<unsigned char> header(layout_.unicode_ascii_data);
  absl::Status status = memory_->Read(address, header.data(), header.size());
  if (IsFatal(status)) return status;
  if (!status.ok()) return std::optional<std::string>();
  std::optional<StrShape> shape =
      ParseStrHeader(header.data(), layout_, addresses_.unicode_type, max_chars);
  if (!shape.has_value()) return std::optional<std::string>();
  std::vector<unsigned char> data(shape->DataBytes());
  status = memory_->Read(address + shape->data_offset, data.data(), data.size());
  if (IsFatal(status)) return status;
  if (!status.ok()) return std::optional<std::string>();
  return std::optional<std::string>(StrDataToUtf8(data.data(), *shape));
}

absl::StatusOr<std::optional<RunningTask>> CPythonReader::RunningTaskOf(
    const PythonThread& thread) {
  if (!asyncio_.has_value() || layout_.gen_qualname == kNoField || !Plausible(thread.tstate)) {
    return std::optional<RunningTask>();
  }
  uint64_t task = 0;
  absl::Status status =
      memory_->ReadValue(thread.tstate + asyncio_->tstate_running_task, &task);
  if (IsFatal(status)) return status;
  if (!status.ok() || !Plausible(task)) return std::optional<RunningTask>();
  uint64_t name = 0, coro = 0;
  RemoteRead reads[] = {
      {.address = task + asyncio_->task_name, .buffer = &name, .size = 8},
      {.address = task + asyncio_->task_coro, .buffer = &coro, .size = 8},
  };
  status = memory_->ReadMany(reads);
  if (IsFatal(status)) return status;
  if (!status.ok()) return std::optional<RunningTask>();
  RunningTask running;
  absl::StatusOr<std::optional<std::string>> text = ReadStr(name, kMaxNameChars);
  if (!text.ok()) return text.status();
  if (text->has_value()) {
    running.name = **text;
  } else if (Plausible(name) && long_type_ != 0) {
    // Unnamed tasks keep their number as an int until asked ("Task-N"): a small non-negative
    // int is lv_tag = digits << 3 (sign bits 0, or 1 for zero) and 30-bit digits.
    uint64_t header[2] = {0, 0};  // ob_type, lv_tag
    uint32_t digits[2] = {0, 0};
    RemoteRead number[] = {
        {.address = name + layout_.object_type, .buffer = &header[0], .size = 8},
        {.address = name + layout_.long_lv_tag, .buffer = &header[1], .size = 8},
        {.address = name + layout_.long_digits, .buffer = digits, .size = sizeof(digits)},
    };
    status = memory_->ReadMany(number);
    if (IsFatal(status)) return status;
    uint64_t ndigits = header[1] >> 3;
    if (status.ok() && header[0] == long_type_ && (header[1] & 3) != 2 && ndigits <= 2) {
      uint64_t value = ndigits == 0 ? 0 : digits[0] | (ndigits == 2 ? uint64_t{digits[1]} << 30 : 0);
      running.name = absl::StrFormat("Task-%d", value);
    }
  }
  if (Plausible(coro)) {
    uint64_t qualname = 0;
    status = memory_->ReadValue(coro + layout_.gen_qualname, &qualname);
    if (IsFatal(status)) return status;
    if (status.ok()) {
      absl::StatusOr<std::optional<std::string>> coro_name = ReadStr(qualname, kMaxNameChars);
      if (!coro_name.ok()) return coro_name.status();
      if (coro_name->has_value()) running.coro = **coro_name;
    }
  }
  if (running.name.empty() && running.coro.empty()) return std::optional<RunningTask>();
  return std::optional<RunningTask>(std::move(running));
}

}  // namespace stallscope
