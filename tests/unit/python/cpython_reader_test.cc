// The stack reader against fake target memory laid out like CPython 3.11: the cases a live
// process produces only by bad luck (freed frames, cycles, garbage) made on purpose.
#include "python/cpython_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "python/debug_offsets.h"
#include "python/debug_offsets_samples.h"

namespace stallscope {
namespace {

class FakeMemory : public RemoteMemory {
 public:
  absl::Status ReadMany(std::span<const RemoteRead> reads) override {
    ++read_calls_;
    if (gone_) return absl::NotFoundError("gone");
    // The target runs between our reads: let a test change memory before this one.
    if (before_read_) before_read_(read_calls_);
    for (const RemoteRead& read : reads) {
      if (read.size == 0) continue;
      auto it = regions_.upper_bound(read.address);
      if (it == regions_.begin()) return absl::DataLossError("unmapped");
      --it;
      uint64_t offset = read.address - it->first;
      if (offset + read.size > it->second.size()) return absl::DataLossError("unmapped");
      memcpy(read.buffer, it->second.data() + offset, read.size);
    }
    return absl::OkStatus();
  }

  // A zeroed region of `size` bytes at a fresh address.
  uint64_t Allocate(size_t size) {
    uint64_t address = next_;
    next_ += (size + 0xfff) & ~uint64_t{0xfff};
    next_ += 0x1000;  // an unmapped gap after each region
    regions_[address] = std::string(size, '\0');
    return address;
  }

  template <typename T>
  void Write(uint64_t address, T value) {
    auto it = --regions_.upper_bound(address);
    memcpy(it->second.data() + (address - it->first), &value, sizeof(T));
  }

  void WriteBytes(uint64_t address, const std::string& bytes) {
    auto it = --regions_.upper_bound(address);
    memcpy(it->second.data() + (address - it->first), bytes.data(), bytes.size());
  }

  void set_gone() { gone_ = true; }
  void set_before_read(std::function<void(uint64_t call)> hook) { before_read_ = std::move(hook); }

 private:
  std::map<uint64_t, std::string> regions_;
  uint64_t next_ = 0x7f0000000000;
  bool gone_ = false;
  std::function<void(uint64_t)> before_read_;
};

// A free-threaded 3.14 build (parameter value): 3.14's debug offsets with the object header,
// str, bytes, frame and code fields moved as in a free-threaded build (synthetic: Debian does not
// package one), so nothing may assume the GIL build's header.
constexpr uint32_t kFreeThreaded314 = 0x030e0afe;

// The layout a reader gets for `hex_version`: a table before 3.13, else parsed from the debug
// offsets real interpreters publish (debug_offsets_samples.h).
CPythonLayout LayoutFor(uint32_t hex_version) {
  uint32_t minor = (hex_version >> 16) & 0xff;
  if (minor < 13) return *FindCPythonLayout(hex_version);
  std::vector<uint64_t> words(minor == 13 ? std::begin(testing::kDebugOffsets313)
                                          : std::begin(testing::kDebugOffsets314),
                              minor == 13 ? std::end(testing::kDebugOffsets313)
                                          : std::end(testing::kDebugOffsets314));
  bool free_threaded = hex_version == kFreeThreaded314;
  if (free_threaded) {
    // Word indexes in 3.14's order (debug_offsets.cc): frame tlbc_index; code size,
    // co_code_adaptive, co_tlbc; ob_type; int lv_tag, ob_digit; bytes size, ob_size, ob_sval;
    // str size, state, length, asciiobject_size; generator gi_name.
    for (auto [index, value] : std::initializer_list<std::pair<size_t, uint64_t>>{
             {35, 0x4c}, {36, 0xe0}, {45, 0xd8}, {46, 0xd0}, {48, 0x18}, {69, 0x20}, {70, 0x28},
             {71, 0x38}, {72, 0x20}, {73, 0x30}, {74, 0x50}, {75, 0x30}, {76, 0x20}, {77, 0x38},
             {81, 0x28}}) {
      words[index] = value;
    }
  }
  absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(
      testing::DebugOffsetsBytes(hex_version, free_threaded ? 1 : 0, words));
  EXPECT_TRUE(layout.ok()) << layout.status();
  return layout.ok() ? *layout : CPythonLayout{};
}

class FakeInterpreter {
 public:
  static constexpr uint64_t kCodeType = 0x5000010;
  static constexpr uint64_t kStrType = 0x5000020;
  static constexpr uint64_t kBytesType = 0x5000030;
  static constexpr pid_t kTid = 4242;
  static constexpr uint64_t kFrameBytes = 0x200;

  explicit FakeInterpreter(uint32_t hex_version) : layout_(LayoutFor(hex_version)) {
    runtime_ = memory_.Allocate(0x400);
    interp_ = memory_.Allocate(0x2000);
    tstate_ = memory_.Allocate(0x200);
    memory_.Write(runtime_ + layout_.runtime_interpreters_head, interp_);
    memory_.Write(interp_ + layout_.interp_threads_head, tstate_);
    memory_.Write(tstate_ + layout_.tstate_native_thread_id, int64_t{kTid});
    memory_.Write(runtime_ + layout_.runtime_interpreters_main, interp_);
    if (layout_.interp_ceval_gil != kNoField) {
      gil_ = memory_.Allocate(0x40);
      memory_.Write(interp_ + layout_.interp_ceval_gil, gil_);
    }
    if (layout_.tstate_cframe != kNoField) {
      cframe_ = memory_.Allocate(0x20);
      memory_.Write(tstate_ + layout_.tstate_cframe, cframe_);
    }
  }

  CPythonReader Reader() {
    return CPythonReader(&memory_, layout_,
                         {.runtime = runtime_,
                          .code_type = kCodeType,
                          .unicode_type = kStrType,
                          .bytes_type = kBytesType});
  }

  // A compact str: ASCII, or with `width`-byte characters (code points given).
  uint64_t Str(const std::u32string& text, int width = 0) {
    bool ascii = width == 0;
    if (ascii) width = 1;
    uint32_t data = ascii ? layout_.unicode_ascii_data : layout_.unicode_compact_data;
    uint64_t s = memory_.Allocate(data + (text.size() + 1) * width);
    memory_.Write(s + layout_.object_type, kStrType);
    memory_.Write(s + layout_.unicode_length, static_cast<int64_t>(text.size()));
    uint32_t state = (static_cast<uint32_t>(width) | (1u << 3) | (ascii ? 1u << 4 : 0))
                     << layout_.unicode_kind_shift;
    memory_.Write(s + layout_.unicode_state, state);
    for (size_t i = 0; i < text.size(); ++i) {
      if (width == 1) memory_.Write(s + data + i, static_cast<uint8_t>(text[i]));
      if (width == 2) memory_.Write(s + data + 2 * i, static_cast<uint16_t>(text[i]));
      if (width == 4) memory_.Write(s + data + 4 * i, static_cast<uint32_t>(text[i]));
    }
    return s;
  }

  uint64_t Bytes(const std::string& bytes) {
    uint64_t b = memory_.Allocate(layout_.bytes_data + bytes.size() + 1);
    memory_.Write(b + layout_.object_type, kBytesType);
    memory_.Write(b + layout_.var_object_size, static_cast<int64_t>(bytes.size()));
    memory_.WriteBytes(b + layout_.bytes_data, bytes);
    return b;
  }

  // A code object of 8 code units: units 0-3 on first_line, 4-7 on first_line + 2.
  uint64_t Code(uint64_t qualname, int first_line, int first_traceable = 0) {
    uint64_t code = memory_.Allocate(layout_.code_bytecode + 16);
    memory_.Write(code + layout_.object_type, kCodeType);
    memory_.Write(code + layout_.var_object_size, int64_t{8});
    memory_.Write(code + layout_.code_firstlineno, int32_t{first_line});
    memory_.Write(code + layout_.code_filename, filename_);
    memory_.Write(code + layout_.code_name, qualname);
    memory_.Write(code + layout_.code_qualname, qualname);
    memory_.Write(code + layout_.code_linetable, linetable_);
    memory_.Write(code + layout_.code_firsttraceable, int32_t{first_traceable});
    // Every fake frame takes kFrameBytes on the thread's frame stack.
    constexpr int32_t kWords = kFrameBytes / 8;
    if (layout_.code_framesize != kNoField) {
      memory_.Write(code + layout_.code_framesize, kWords);
    } else {
      memory_.Write(code + layout_.code_nlocalsplus, int32_t{1});
      memory_.Write(code + layout_.code_stacksize,
                    kWords - 1 - static_cast<int32_t>(layout_.frame_specials_words));
    }
    return code;
  }
  uint64_t Code(const std::string& qualname, int first_line, int first_traceable = 0) {
    return Code(Str(std::u32string(qualname.begin(), qualname.end())), first_line, first_traceable);
  }

  // A frame stopped at code unit `unit` of `code`, linked to `previous`.
  uint64_t Frame(uint64_t code, int unit, uint64_t previous, uint8_t owner = 0) {
    uint64_t frame = memory_.Allocate(0x50);
    SetFrame(frame, code, unit, previous, owner);
    return frame;
  }
  void SetFrame(uint64_t frame, uint64_t code, int unit, uint64_t previous, uint8_t owner = 0) {
    memory_.Write(frame + layout_.frame_code, code);
    memory_.Write(frame + layout_.frame_instr, code + layout_.code_bytecode + 2 * unit);
    memory_.Write(frame + layout_.frame_previous, previous);
    memory_.Write(frame + layout_.frame_owner, owner);
  }

  // The thread's frame stack chunk, [chunk, limit), used up to top.
  void SetDatastack(uint64_t chunk, uint64_t top, uint64_t limit) {
    memory_.Write(tstate_ + layout_.tstate_datastack_chunk, chunk);
    memory_.Write(tstate_ + layout_.tstate_datastack_top, top);
    memory_.Write(tstate_ + layout_.tstate_datastack_limit, limit);
  }

  void SetCurrentFrame(uint64_t frame) {
    if (cframe_ != 0) {
      memory_.Write(cframe_ + layout_.cframe_current_frame, frame);
    } else {
      memory_.Write(tstate_ + layout_.tstate_current_frame, frame);
    }
  }

  PythonThread Thread() const { return {.tid = kTid, .tstate = tstate_}; }
  uint64_t runtime() const { return runtime_; }
  uint64_t gil() const { return gil_; }
  FakeMemory& memory() { return memory_; }
  const CPythonLayout& layout() const { return layout_; }
  uint64_t tstate() const { return tstate_; }

 private:
  FakeMemory memory_;  // first: the members below allocate in it
  CPythonLayout layout_;
  uint64_t runtime_ = 0, interp_ = 0, tstate_ = 0, cframe_ = 0, gil_ = 0;
  uint64_t filename_ = Str(U"/srv/app/handlers.py");
  // Two short-form entries of 4 units: first line, then (one-line form) +2.
  uint64_t linetable_ = Bytes(std::string{'\x83', '\x00', '\xe3', '\x00', '\x00'});
};

class PythonCpythonReader : public ::testing::TestWithParam<uint32_t> {};

TEST_P(PythonCpythonReader, ReadsThreadsAndAStack) {
  FakeInterpreter fake(GetParam());
  uint64_t outer = fake.Frame(fake.Code("main", 10), 1, 0);
  uint64_t inner = fake.Frame(fake.Code("Handler.get", 20), 5, outer);
  fake.SetCurrentFrame(inner);
  CPythonReader reader = fake.Reader();

  absl::StatusOr<std::vector<PythonThread>> threads = reader.Threads();
  ASSERT_TRUE(threads.ok()) << threads.status();
  ASSERT_EQ(threads->size(), 1u);
  EXPECT_EQ((*threads)[0].tid, FakeInterpreter::kTid);

  absl::StatusOr<std::vector<v1::Frame>> stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 2u);
  EXPECT_EQ((*stack)[0].function(), "Handler.get");
  EXPECT_EQ((*stack)[0].line(), 22u);
  EXPECT_EQ((*stack)[0].file(), "/srv/app/handlers.py");
  EXPECT_EQ((*stack)[0].module(), "handlers");
  EXPECT_EQ((*stack)[1].function(), "main");
  EXPECT_EQ((*stack)[1].line(), 10u);
}

TEST_P(PythonCpythonReader, CachesCodeObjectsAndNoticesReuse) {
  FakeInterpreter fake(GetParam());
  uint64_t code = fake.Code("first", 10);
  fake.SetCurrentFrame(fake.Frame(code, 0, 0));
  CPythonReader reader = fake.Reader();
  ASSERT_TRUE(reader.Stack(fake.Thread()).ok());
  uint64_t cold_reads = fake.memory().read_calls();
  absl::StatusOr<std::vector<v1::Frame>> stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok());
  // tstate, cframe, frame, code headers: the names come from the cache.
  EXPECT_EQ(fake.memory().read_calls() - cold_reads, 4u);
  EXPECT_EQ(reader.code_cache().hits(), 1u);

  // The code object is freed and another one allocated at the same address.
  fake.memory().Write(code + fake.layout().code_qualname, fake.Str(U"second"));
  stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok());
  EXPECT_EQ((*stack)[0].function(), "second");
}

TEST_P(PythonCpythonReader, ParsesThreadFramesFromOneCopyOfTheFrameStack) {
  FakeInterpreter fake(GetParam());
  // A generator's frame lives in the generator object; the thread's own in its datastack.
  uint64_t gen = fake.Frame(fake.Code("gen", 30), 4, 0, 1);
  uint64_t chunk = fake.memory().Allocate(64 << 10);
  // Packed, as CPython pushes them: each frame right after its caller.
  uint64_t outer = chunk + 0x20;
  uint64_t middle = outer + FakeInterpreter::kFrameBytes;
  uint64_t inner = middle + FakeInterpreter::kFrameBytes;
  fake.SetFrame(outer, fake.Code("outer", 10), 0, gen);
  fake.SetFrame(middle, fake.Code("middle", 20), 4, outer);
  fake.SetFrame(inner, fake.Code("inner", 40), 0, middle);
  fake.SetDatastack(chunk, inner + FakeInterpreter::kFrameBytes, chunk + (64 << 10));
  fake.SetCurrentFrame(inner);
  CPythonReader reader = fake.Reader();
  ASSERT_TRUE(reader.Stack(fake.Thread()).ok());
  uint64_t before = fake.memory().read_calls();
  absl::StatusOr<std::vector<v1::Frame>> stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  // tstate; current frame + window; the generator's frame; code headers + frames again.
  EXPECT_EQ(fake.memory().read_calls() - before, 4u);
  ASSERT_EQ(stack->size(), 4u);
  EXPECT_EQ((*stack)[0].function(), "inner");
  EXPECT_EQ((*stack)[1].function(), "middle");
  EXPECT_EQ((*stack)[1].line(), 22u);
  EXPECT_EQ((*stack)[2].function(), "outer");
  EXPECT_EQ((*stack)[3].function(), "gen");
  EXPECT_EQ((*stack)[3].line(), 32u);

  // Garbage datastack pointers: the window cannot be read, frames are read one by one.
  fake.SetDatastack(chunk, 0x7e0000100000, 0x7e0000200000);
  stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_EQ(stack->size(), 4u);
}

TEST_P(PythonCpythonReader, RetriesWhenTheStackChangesWhileRead) {
  FakeInterpreter fake(GetParam());
  uint64_t outer = fake.Frame(fake.Code("outer", 1), 0, 0);
  uint64_t middle = fake.Frame(fake.Code("middle", 1), 0, outer);
  uint64_t inner = fake.Frame(fake.Code("inner", 1), 0, middle);
  uint64_t other = fake.Code("other", 1);
  fake.SetCurrentFrame(inner);
  CPythonReader reader = fake.Reader();
  // While the first walk is under way (after it copied "middle"), "middle" returns and its slot
  // is reused by another call: the walk copied a chain that no longer exists.
  fake.memory().set_before_read([&](uint64_t call) {
    if (call == 5) fake.SetFrame(middle, other, 0, outer);
  });
  absl::StatusOr<std::vector<v1::Frame>> stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_EQ(reader.stats().retries, 1u);
  EXPECT_EQ(reader.stats().truncated, 0u);
  ASSERT_EQ(stack->size(), 3u);
  EXPECT_EQ((*stack)[1].function(), "other");  // the second, settled, read
}

TEST_P(PythonCpythonReader, KeepsOnlyTheSettledOuterFramesOfAStackThatNeverHoldsStill) {
  FakeInterpreter fake(GetParam());
  uint64_t outer = fake.Frame(fake.Code("outer", 1), 0, 0);
  uint64_t middle = fake.Frame(fake.Code("middle", 1), 0, outer);
  uint64_t inner = fake.Frame(fake.Code("inner", 1), 0, middle);
  uint64_t a = fake.Code("a", 1), b = fake.Code("b", 1);
  fake.SetCurrentFrame(inner);
  CPythonReader reader = fake.Reader();
  // The innermost call changes between every two reads.
  fake.memory().set_before_read(
      [&](uint64_t call) { fake.SetFrame(inner, call % 2 ? a : b, 0, middle); });
  absl::StatusOr<std::vector<v1::Frame>> stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_EQ(reader.stats().retries, static_cast<uint64_t>(CPythonReader::kMaxAttempts - 1));
  EXPECT_EQ(reader.stats().truncated, 1u);
  ASSERT_EQ(stack->size(), 2u);
  EXPECT_EQ((*stack)[0].function(), "middle");
  EXPECT_EQ((*stack)[1].function(), "outer");

  // Even the outermost frame changes: nothing can be trusted.
  fake.memory().set_before_read(
      [&](uint64_t call) { fake.SetFrame(outer, call % 2 ? a : b, 0, 0); });
  stack = reader.Stack(fake.Thread());
  EXPECT_TRUE(absl::IsUnavailable(stack.status())) << stack.status();
}

TEST_P(PythonCpythonReader, DropsInnerFramesThatDoNotFitAgainstTheirCaller) {
  FakeInterpreter fake(GetParam());
  uint64_t chunk = fake.memory().Allocate(64 << 10);
  uint64_t outer = chunk + 0x20;
  uint64_t middle = outer + FakeInterpreter::kFrameBytes;
  // Not where a call from "middle" would have put it: copied from another moment.
  uint64_t inner = middle + FakeInterpreter::kFrameBytes + 0x40;
  fake.SetFrame(outer, fake.Code("outer", 1), 0, 0);
  fake.SetFrame(middle, fake.Code("middle", 1), 0, outer);
  fake.SetFrame(inner, fake.Code("inner", 1), 0, middle);
  fake.SetDatastack(chunk, inner + FakeInterpreter::kFrameBytes, chunk + (64 << 10));
  fake.SetCurrentFrame(inner);
  CPythonReader reader = fake.Reader();
  absl::StatusOr<std::vector<v1::Frame>> stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 2u);
  EXPECT_EQ((*stack)[0].function(), "middle");
  EXPECT_EQ(reader.stats().truncated, 1u);
}

TEST_P(PythonCpythonReader, DropsFramesCaughtHalfRewrittenWithWhatTheyCalled) {
  FakeInterpreter fake(GetParam());
  uint64_t outer = fake.Frame(fake.Code("outer", 1), 0, 0);
  uint64_t middle = fake.Frame(fake.Code("middle", 1), 0, outer);
  uint64_t inner = fake.Frame(fake.Code("inner", 1), 0, middle);
  // The new code pointer is in place, the instruction pointer still the old call's: neither
  // this frame nor what it seems to have called can be trusted.
  fake.memory().Write(middle + fake.layout().frame_code, fake.Code("new", 1));
  fake.SetCurrentFrame(inner);
  CPythonReader reader = fake.Reader();
  absl::StatusOr<std::vector<v1::Frame>> stack = reader.Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 1u);
  EXPECT_EQ((*stack)[0].function(), "outer");
  EXPECT_EQ(reader.stats().truncated, 1u);
}

TEST_P(PythonCpythonReader, StopsAtCycles) {
  FakeInterpreter fake(GetParam());
  uint64_t a = fake.Frame(fake.Code("a", 1), 0, 0);
  uint64_t b = fake.Frame(fake.Code("b", 1), 0, a);
  fake.SetFrame(a, fake.Code("a", 1), 0, b);  // a -> b -> a -> ...
  fake.SetCurrentFrame(b);
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_EQ(stack->size(), 2u);
}

TEST_P(PythonCpythonReader, BoundsLongChains) {
  FakeInterpreter fake(GetParam());
  uint64_t code = fake.Code("recurse", 1);
  uint64_t frame = 0;
  for (int i = 0; i < 1000; ++i) frame = fake.Frame(code, 0, frame);
  fake.SetCurrentFrame(frame);
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_EQ(stack->size(), static_cast<size_t>(CPythonReader::kMaxFrames));
}

TEST_P(PythonCpythonReader, KeepsInnerFramesWhenTheChainIsFreedUnderUs) {
  FakeInterpreter fake(GetParam());
  uint64_t outer_freed = 0x7e0000001000;  // unmapped
  uint64_t middle = fake.Frame(fake.Code("middle", 1), 0, outer_freed);
  uint64_t inner = fake.Frame(fake.Code("inner", 1), 0, middle);
  fake.SetCurrentFrame(inner);
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 2u);
  EXPECT_EQ((*stack)[1].function(), "middle");
}

TEST_P(PythonCpythonReader, StopsAtAFrameWhoseCodeIsNotACodeObject) {
  FakeInterpreter fake(GetParam());
  uint64_t not_code = fake.Str(U"garbage");  // readable, but a str
  uint64_t outer = fake.Frame(fake.Code("outer", 1), 0, 0);
  uint64_t bad = fake.Frame(not_code, 0, outer);
  uint64_t unreadable = fake.Frame(0x7e0000002000, 0, bad);
  uint64_t inner = fake.Frame(fake.Code("inner", 1), 0, unreadable);
  fake.SetCurrentFrame(inner);
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 1u);
  EXPECT_EQ((*stack)[0].function(), "inner");
}

TEST_P(PythonCpythonReader, SkipsFramesThatHaveNotStarted) {
  FakeInterpreter fake(GetParam());
  uint64_t outer = fake.Frame(fake.Code("outer", 1), 0, 0);
  // Still creating cells: before its first traceable instruction (unit 2).
  uint64_t starting = fake.Frame(fake.Code("starting", 5, 2), 1, outer);
  // A generator frame is never incomplete, even before its first instruction.
  uint64_t gen = fake.Frame(fake.Code("gen", 7, 2), -1, starting, 1);
  fake.SetCurrentFrame(gen);
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 2u);
  EXPECT_EQ((*stack)[0].function(), "gen");
  EXPECT_EQ((*stack)[0].line(), 7u);  // not started: its first line
  EXPECT_EQ((*stack)[1].function(), "outer");
}

TEST_P(PythonCpythonReader, BoundsAbsurdStringLengths) {
  FakeInterpreter fake(GetParam());
  uint64_t name = fake.Str(std::u32string(CPythonReader::kMaxNameChars + 10, U'x'));
  fake.memory().Write(name + fake.layout().unicode_length, int64_t{1} << 40);
  fake.SetCurrentFrame(fake.Frame(fake.Code(name, 1), 0, 0));
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 1u);
  EXPECT_EQ((*stack)[0].function().size(), CPythonReader::kMaxNameChars);
}

TEST_P(PythonCpythonReader, UnreadableNamesKeepAnUnnamedFrame) {
  FakeInterpreter fake(GetParam());
  uint64_t name = fake.Str(U"x");
  fake.memory().Write(name + fake.layout().unicode_length, int64_t{1} << 40);
  fake.memory().Write(name + fake.layout().unicode_state, uint32_t{0});  // not compact
  uint64_t outer = fake.Frame(fake.Code("outer", 1), 0, 0);
  fake.SetCurrentFrame(fake.Frame(fake.Code(name, 1), 0, outer));
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 2u);
  EXPECT_EQ((*stack)[0].function(), "");
  EXPECT_EQ((*stack)[1].function(), "outer");
}

TEST_P(PythonCpythonReader, DecodesNonAsciiNamesToUtf8) {
  FakeInterpreter fake(GetParam());
  uint64_t latin1 = fake.Code(fake.Str(U"caf\u00e9", 1), 1);
  uint64_t ucs2 = fake.Code(fake.Str(U"Gr\u00fc\u00dfe.\u4f60\u597d", 2), 1);
  std::u32string with_lone_surrogate = U"x\U0001F600";
  with_lone_surrogate.push_back(char32_t{0xd800});
  uint64_t ucs4 = fake.Code(fake.Str(with_lone_surrogate, 4), 1);
  fake.SetCurrentFrame(fake.Frame(ucs4, 0, fake.Frame(ucs2, 0, fake.Frame(latin1, 0, 0))));
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 3u);
  EXPECT_EQ((*stack)[0].function(), "x\xF0\x9F\x98\x80\xEF\xBF\xBD");
  EXPECT_EQ((*stack)[1].function(),
            "Gr\xC3\xBC\xC3\x9F"
            "e.\xE4\xBD\xA0\xE5\xA5\xBD");
  EXPECT_EQ((*stack)[2].function(), "caf\xC3\xA9");
}

TEST_P(PythonCpythonReader, ThreadStateOfAnotherThreadIsRefused) {
  FakeInterpreter fake(GetParam());
  fake.SetCurrentFrame(fake.Frame(fake.Code("f", 1), 0, 0));
  // The thread exited and its PyThreadState memory now belongs to another thread.
  fake.memory().Write(fake.tstate() + fake.layout().tstate_native_thread_id, int64_t{999});
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  EXPECT_TRUE(absl::IsFailedPrecondition(stack.status())) << stack.status();
}

TEST_P(PythonCpythonReader, GoneProcessIsNotFound) {
  FakeInterpreter fake(GetParam());
  fake.SetCurrentFrame(fake.Frame(fake.Code("f", 1), 0, 0));
  CPythonReader reader = fake.Reader();
  fake.memory().set_gone();
  EXPECT_TRUE(absl::IsNotFound(reader.Stack(fake.Thread()).status()));
  EXPECT_TRUE(absl::IsNotFound(reader.Threads().status()));
  // (Free-threaded: no GIL, nothing read.)
  if (!fake.layout().free_threaded) EXPECT_TRUE(absl::IsNotFound(reader.GilHolder().status()));
}

TEST_P(PythonCpythonReader, NoPythonRunningIsAnEmptyStack) {
  FakeInterpreter fake(GetParam());
  fake.SetCurrentFrame(0);
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_TRUE(stack->empty());
}

TEST_P(PythonCpythonReader, SkipsEntryFramesOfTheCStack) {
  FakeInterpreter fake(GetParam());
  if (fake.layout().frame_owner_cstack == 0xff) GTEST_SKIP() << "no such frames before 3.12";
  uint64_t outer = fake.Frame(fake.Code("outer", 1), 0, 0);
  // A shim frame: owned by the C stack; its code field need not be a code object.
  uint64_t shim = fake.Frame(0, 0, outer, fake.layout().frame_owner_cstack);
  fake.SetCurrentFrame(fake.Frame(fake.Code("inner", 1), 0, shim));
  absl::StatusOr<std::vector<v1::Frame>> stack = fake.Reader().Stack(fake.Thread());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 2u);
  EXPECT_EQ((*stack)[0].function(), "inner");
  EXPECT_EQ((*stack)[1].function(), "outer");
}

TEST_P(PythonCpythonReader, GilHolder) {
  FakeInterpreter fake(GetParam());
  const CPythonLayout& layout = fake.layout();
  CPythonReader reader = fake.Reader();
  // Who holds it, as this version records it.
  auto hold = [&](uint64_t tstate, int32_t locked) {
    if (layout.gil_source == GilSource::kTstateCurrent) {
      fake.memory().Write(fake.runtime() + layout.runtime_tstate_current, tstate);
      fake.memory().Write(fake.runtime() + layout.runtime_gil_locked, locked);
    } else {
      fake.memory().Write(fake.gil() + layout.gil_last_holder, tstate);
      fake.memory().Write(fake.gil() + layout.gil_locked, locked);
    }
  };
  hold(fake.tstate(), 1);
  absl::StatusOr<std::optional<pid_t>> holder = reader.GilHolder();
  ASSERT_TRUE(holder.ok()) << holder.status();
  if (layout.free_threaded) {
    EXPECT_EQ(*holder, std::nullopt) << "no GIL to name in a free-threaded build";
    return;
  }
  EXPECT_EQ(*holder, FakeInterpreter::kTid);
  hold(fake.tstate(), 0);  // released
  EXPECT_EQ(*reader.GilHolder(), std::nullopt);
  hold(0x7e0000003000, 1);  // a freed thread state
  EXPECT_EQ(*reader.GilHolder(), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(PythonLayouts, PythonCpythonReader,
                         ::testing::Values(0x030b02f0, 0x030c01f0, 0x030d00f0, 0x030e0af0,
                                           kFreeThreaded314),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return "v3_" + std::to_string((info.param >> 16) & 0xff) +
                                  (info.param == kFreeThreaded314 ? "t" : "");
                         });

}  // namespace
}  // namespace stallscope
