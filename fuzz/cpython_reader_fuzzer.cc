// The CPython stack walker over a fake target memory image: threads, each thread's frames
// (code objects, str names, line tables) and the GIL holder, as the agent reads them from a
// live process with process_vm_readv. Everything in a target's memory is hostile: whatever the
// bytes, a walk must end in a bounded number of reads and never touch memory outside what it
// copied.
//
// Input: byte 0 picks the CPython version's layout; the rest is XOR-ed onto a well-formed
// interpreter image (two frames of one thread; see BuildImage), so an all-zero input walks a
// valid stack and every mutation corrupts it somewhere.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "python/cpython_layout.h"
#include "python/cpython_reader.h"
#include "python/debug_offsets.h"
#include "python/debug_offsets_samples.h"  // tests/unit: real interpreters' offset words
#include "python/remote_memory.h"

namespace {

using stallscope::CPythonLayout;
using stallscope::kNoField;

constexpr uint64_t kBase = 0x7f0000000000;
constexpr size_t kImageBytes = 32 << 10;
constexpr uint64_t kCodeType = 0x5000010;
constexpr uint64_t kStrType = 0x5000020;
constexpr uint64_t kBytesType = 0x5000030;
constexpr int64_t kTid = 4242;
constexpr uint64_t kFrameBytes = 0x200;
// The reads one call may take, from the reader's own bounds: Threads() follows at most
// kMaxInterpreters x kMaxThreads thread states (two reads each), Stack() kMaxAttempts walks of
// kMaxFrames frames (a few reads each), GilHolder() a handful. An unbounded walk exceeds them.
constexpr uint64_t kMaxThreadsReads = 2 * 64 * 4096 + 64;
constexpr uint64_t kMaxStackReads = 3 * 256 * 8 + 64;
constexpr uint64_t kMaxGilReads = 64;
#if defined(__x86_64__)
constexpr uint64_t kPthreadTidOffset = 0x2d0;  // as in cpython_reader.cc
#else
constexpr uint64_t kPthreadTidOffset = 0xd0;
#endif

// The target's memory: one mapped range at kBase; anything else is unmapped.
class ImageMemory : public stallscope::RemoteMemory {
 public:
  explicit ImageMemory(std::vector<unsigned char> image) : image_(std::move(image)) {}

  // The next call of the reader may read at most `budget` times.
  void Budget(uint64_t budget, const char* call) {
    budget_ = budget;
    call_ = call;
  }

  absl::Status ReadMany(std::span<const stallscope::RemoteRead> reads) override {
    ++read_calls_;
    if (budget_-- == 0) {
      fprintf(stderr, "cpython_reader_fuzzer: %s read more than its bound: the walk is not bounded\n",
              call_);
      abort();
    }
    for (const auto& read : reads) {
      if (read.size == 0) continue;
      if (read.address < kBase || read.address - kBase > image_.size() ||
          read.size > image_.size() - (read.address - kBase)) {
        return absl::DataLossError("unmapped");
      }
      memcpy(read.buffer, image_.data() + (read.address - kBase), read.size);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<unsigned char> image_;
  uint64_t budget_ = 0;
  const char* call_ = "";
};

// Lays out a small interpreter the way the unit tests' FakeInterpreter does, in one range.
class ImageBuilder {
 public:
  explicit ImageBuilder(const CPythonLayout& layout) : layout_(layout), image_(kImageBytes) {}

  uint64_t Allocate(size_t size) {
    uint64_t address = kBase + next_;
    next_ += (size + 0x3f) & ~size_t{0x3f};
    if (next_ > image_.size()) abort();
    return address;
  }
  template <typename T>
  void Write(uint64_t address, uint32_t offset, T value) {
    if (offset == kNoField) return;
    uint64_t at = address - kBase + offset;
    if (at + sizeof(T) > image_.size()) abort();
    memcpy(image_.data() + at, &value, sizeof(T));
  }

  uint64_t Str(const std::string& text) {
    uint64_t s = Allocate(layout_.unicode_ascii_data + text.size() + 1);
    Write(s, layout_.object_type, kStrType);
    Write(s, layout_.unicode_length, static_cast<int64_t>(text.size()));
    Write(s, layout_.unicode_state, uint32_t{(1u << 2) | (1u << 5) | (1u << 6)});  // compact ascii
    for (size_t i = 0; i < text.size(); ++i) Write(s, layout_.unicode_ascii_data + i, text[i]);
    return s;
  }
  uint64_t Bytes(const std::string& bytes) {
    uint64_t b = Allocate(layout_.bytes_data + bytes.size() + 1);
    Write(b, layout_.object_type, kBytesType);
    Write(b, layout_.var_object_size, static_cast<int64_t>(bytes.size()));
    for (size_t i = 0; i < bytes.size(); ++i) Write(b, layout_.bytes_data + i, bytes[i]);
    return b;
  }
  uint64_t Code(const std::string& name, int first_line, uint64_t filename, uint64_t linetable) {
    uint64_t code = Allocate(layout_.code_bytecode + 16);
    Write(code, layout_.object_type, kCodeType);
    Write(code, layout_.var_object_size, int64_t{8});
    Write(code, layout_.code_firstlineno, int32_t{first_line});
    Write(code, layout_.code_filename, filename);
    uint64_t qualname = Str(name);
    Write(code, layout_.code_name, qualname);
    Write(code, layout_.code_qualname, qualname);
    Write(code, layout_.code_linetable, linetable);
    Write(code, layout_.code_firsttraceable, int32_t{0});
    constexpr int32_t kWords = kFrameBytes / 8;
    if (layout_.code_framesize != kNoField) {
      Write(code, layout_.code_framesize, kWords);
    } else if (layout_.code_nlocalsplus != kNoField) {
      Write(code, layout_.code_nlocalsplus, int32_t{1});
      Write(code, layout_.code_stacksize,
            kWords - 1 - static_cast<int32_t>(layout_.frame_specials_words));
    }
    return code;
  }

  std::vector<unsigned char> Build() {
    uint64_t runtime = Allocate(0x800);
    uint64_t interp = Allocate(0x2000);
    uint64_t tstate = Allocate(0x400);
    Write(runtime, layout_.runtime_interpreters_head, interp);
    Write(runtime, layout_.runtime_interpreters_main, interp);
    Write(interp, layout_.interp_threads_head, tstate);
    Write(tstate, layout_.tstate_interp, interp);
    if (layout_.tstate_native_thread_id != kNoField) {
      Write(tstate, layout_.tstate_native_thread_id, kTid);
    } else {
      uint64_t pthread = Allocate(kPthreadTidOffset + 8);
      Write(tstate, layout_.tstate_thread_id, pthread);
      Write(pthread, kPthreadTidOffset, static_cast<int32_t>(kTid));
    }
    if (layout_.gil_source == stallscope::GilSource::kInterpreterGil) {
      uint64_t gil = Allocate(0x40);
      Write(interp, layout_.interp_ceval_gil, gil);
      Write(gil, layout_.gil_last_holder, tstate);
      Write(gil, layout_.gil_locked, int32_t{1});
    } else {
      Write(runtime, layout_.runtime_tstate_current, tstate);
      Write(runtime, layout_.runtime_gil_locked, int32_t{1});
    }
    uint64_t filename = Str("/srv/app/handlers.py");
    // 3.11+: two entries of 4 code units, first line then +2; older tables: (2, 0) (4, 2).
    uint64_t linetable = layout_.frame_model == stallscope::FrameModel::kInterpreterFrame
                             ? Bytes(std::string{'\x83', '\x00', '\xe3', '\x00', '\x00'})
                             : Bytes(std::string{'\x08', '\x00', '\x08', '\x02'});
    uint64_t outer_code = Code("main", 10, filename, linetable);
    uint64_t inner_code = Code("Handler.get", 20, filename, linetable);
    if (layout_.frame_model == stallscope::FrameModel::kInterpreterFrame) {
      uint64_t chunk = Allocate(4 * kFrameBytes);
      uint64_t outer = chunk + 0x40, inner = outer + kFrameBytes;
      Frame(outer, outer_code, 1, 0);
      Frame(inner, inner_code, 5, outer);
      Write(tstate, layout_.tstate_datastack_chunk, chunk);
      Write(tstate, layout_.tstate_datastack_top, inner + kFrameBytes);
      Write(tstate, layout_.tstate_datastack_limit, chunk + 4 * kFrameBytes);
      if (layout_.tstate_cframe != kNoField) {
        uint64_t cframe = Allocate(0x40);
        Write(tstate, layout_.tstate_cframe, cframe);
        Write(cframe, layout_.cframe_current_frame, inner);
      } else {
        Write(tstate, layout_.tstate_current_frame, inner);
      }
    } else {
      uint64_t outer = Allocate(0x100), inner = Allocate(0x100);
      Frame(outer, outer_code, 1, 0);
      Frame(inner, inner_code, 5, outer);
      Write(tstate, layout_.tstate_frame, inner);
    }
    return std::move(image_);
  }

 private:
  void Frame(uint64_t frame, uint64_t code, int unit, uint64_t previous) {
    Write(frame, layout_.frame_code, code);
    Write(frame, layout_.frame_previous, previous);
    if (layout_.frame_model == stallscope::FrameModel::kInterpreterFrame) {
      Write(frame, layout_.frame_instr, code + layout_.code_bytecode + 2 * unit);
      Write(frame, layout_.frame_owner, uint8_t{0});
    } else {
      Write(frame, layout_.frame_instr, int32_t{layout_.lasti_in_code_units ? unit : 2 * unit});
      Write(frame, layout_.frame_owner, layout_.frame_executing);
    }
  }

  const CPythonLayout& layout_;
  std::vector<unsigned char> image_;
  size_t next_ = 0x40;
};

// 3.13 and 3.14 publish their layout (_Py_DebugOffsets): parsed from the words real
// interpreters carry (the unit tests' samples), once.
const CPythonLayout* PublishedLayout(uint64_t version, std::span<const uint64_t> words,
                                     uint64_t free_threaded = 0) {
  absl::StatusOr<CPythonLayout> layout = stallscope::LayoutFromDebugOffsets(
      stallscope::testing::DebugOffsetsBytes(version, free_threaded, words));
  return layout.ok() ? new CPythonLayout(*layout) : nullptr;
}

const CPythonLayout* LayoutFor(uint8_t selector) {
  static const CPythonLayout* v313 = PublishedLayout(0x030d05f0, stallscope::testing::kDebugOffsets313);
  static const CPythonLayout* v314 = PublishedLayout(0x030e0af0, stallscope::testing::kDebugOffsets314);
  static const CPythonLayout* v313t =
      PublishedLayout(0x030d05f0, stallscope::testing::kDebugOffsets313t, /*free_threaded=*/1);
  switch (selector % 8) {
    case 0: return stallscope::FindCPythonLayoutForSeries("3.8");
    case 1: return stallscope::FindCPythonLayoutForSeries("3.9");
    case 2: return stallscope::FindCPythonLayoutForSeries("3.10");
    case 3: return stallscope::FindCPythonLayout(0x030b02f0);
    case 4: return stallscope::FindCPythonLayout(0x030c01f0);
    case 5: return v313;
    case 6: return v314;
    default: return v313t;  // free-threaded: a bigger object header moves every object field
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const CPythonLayout* layout = LayoutFor(data[0]);
  if (layout == nullptr) abort();
  std::vector<unsigned char> image = ImageBuilder(*layout).Build();
  for (size_t i = 1; i < size && i - 1 < image.size(); ++i) image[i - 1] ^= data[i];
  ImageMemory memory(std::move(image));
  stallscope::CPythonReader reader(&memory, *layout,
                                   {.runtime = kBase + 0x40,
                                    .code_type = kCodeType,
                                    .unicode_type = kStrType,
                                    .bytes_type = kBytesType},
                                   /*code_cache_capacity=*/8);
  memory.Budget(kMaxThreadsReads, "Threads()");
  if (auto threads = reader.Threads(); threads.ok()) {
    // The first few threads: each walk is bounded on its own, and a garbage list of thousands
    // of thread states would only make the run slow.
    for (size_t t = 0; t < threads->size() && t < 4; ++t) {
      const auto& thread = (*threads)[t];
      for (int i = 0; i < 2; ++i) {  // twice: code objects then come from the cache
        memory.Budget(kMaxStackReads, "Stack()");
        (void)reader.Stack(thread);
      }
    }
  }
  memory.Budget(kMaxGilReads, "GilHolder()");
  (void)reader.GilHolder();
  return 0;
}
