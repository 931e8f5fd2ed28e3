#include "python/debug_offsets.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "python/remote_memory.h"

namespace stallscope {
namespace {

constexpr char kCookie[8] = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'};
constexpr size_t kHeaderWords = 3;  // cookie, version, free_threaded

// The _Py_DebugOffsets fields the walker uses; kSkip for the others.
enum Slot : uint8_t {
  kSkip,
  kRuntimeSize,
  kInterpretersHead,
  kInterpSize,
  kInterpNext,
  kThreadsHead,
  kCevalGil,
  kGil,
  kGilLocked,
  kGilHolder,
  kTstateSize,
  kTstateNext,
  kTstateInterp,
  kCurrentFrame,
  kThreadId,
  kNativeThreadId,
  kDatastackChunk,
  kFrameSize,
  kFramePrevious,
  kFrameExecutable,
  kFrameInstrPtr,
  kFrameOwner,
  kFrameTlbcIndex,
  kCodeSize,
  kCodeFilename,
  kCodeName,
  kCodeQualname,
  kCodeLinetable,
  kCodeFirstlineno,
  kCodeAdaptive,
  kCodeTlbc,
  kObType,
  kBytesSize,
  kBytesObSize,
  kBytesSval,
  kUnicodeSize,
  kUnicodeState,
  kUnicodeLength,
  kAsciiObjectSize,
  kLongTag,
  kLongDigit,
  kGenName,
  kSlotCount
};

// Field order after the header, as each version's pycore_debug_offsets.h declares it (3.13:
// pycore_runtime.h). Checked against Debian's 3.13.5, pyenv's 3.13.0 and Debian's 3.14 builds
// (release and -dbg) by tests/unit/python/debug_offsets_test.cc.
// clang-format off
constexpr Slot kOrder313[] = {
    // runtime_state: size, finalizing, interpreters_head
    kRuntimeSize, kSkip, kInterpretersHead,
    // interpreter_state: size, id, next, threads_head, gc, imports_modules, sysdict, builtins,
    // ceval_gil, gil_runtime_state, gil_runtime_state_enabled, _locked, _holder
    kInterpSize, kSkip, kInterpNext, kThreadsHead, kSkip, kSkip, kSkip, kSkip,
    kCevalGil, kGil, kSkip, kGilLocked, kGilHolder,
    // thread_state: size, prev, next, interp, current_frame, thread_id, native_thread_id,
    // datastack_chunk, status
    kTstateSize, kSkip, kTstateNext, kTstateInterp, kCurrentFrame, kThreadId, kNativeThreadId,
    kDatastackChunk, kSkip,
    // interpreter_frame: size, previous, executable, instr_ptr, localsplus, owner
    kFrameSize, kFramePrevious, kFrameExecutable, kFrameInstrPtr, kSkip, kFrameOwner,
    // code_object: size, filename, name, qualname, linetable, firstlineno, argcount,
    // localsplusnames, localspluskinds, co_code_adaptive
    kCodeSize, kCodeFilename, kCodeName, kCodeQualname, kCodeLinetable, kCodeFirstlineno, kSkip,
    kSkip, kSkip, kCodeAdaptive,
    // pyobject: size, ob_type
    kSkip, kObType,
    // type_object (4), tuple_object (3), list_object (3), dict_object (3), float_object (2),
    // long_object (3)
    kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip,
    kSkip, kSkip, kSkip, kSkip, kSkip,
    // bytes_object: size, ob_size, ob_sval
    kBytesSize, kBytesObSize, kBytesSval,
    // unicode_object: size, state, length, asciiobject_size
    kUnicodeSize, kUnicodeState, kUnicodeLength, kAsciiObjectSize,
};

// 3.14 adds threads_main, code_object_generation and tlbc_generation to interpreter_state,
// stackpointer and tlbc_index to interpreter_frame, co_tlbc to code_object, and set_object.
constexpr Slot kOrder314[] = {
    kRuntimeSize, kSkip, kInterpretersHead,
    kInterpSize, kSkip, kInterpNext, kThreadsHead, kSkip /* threads_main */, kSkip, kSkip, kSkip,
    kSkip, kCevalGil, kGil, kSkip, kGilLocked, kGilHolder, kSkip, kSkip,
    kTstateSize, kSkip, kTstateNext, kTstateInterp, kCurrentFrame, kThreadId, kNativeThreadId,
    kDatastackChunk, kSkip,
    kFrameSize, kFramePrevious, kFrameExecutable, kFrameInstrPtr, kSkip, kFrameOwner,
    kSkip /* stackpointer */, kFrameTlbcIndex,
    kCodeSize, kCodeFilename, kCodeName, kCodeQualname, kCodeLinetable, kCodeFirstlineno, kSkip,
    kSkip, kSkip, kCodeAdaptive, kCodeTlbc,
    kSkip, kObType,
    // type_object (4), tuple_object (3), list_object (3), set_object (4), dict_object (3),
    // float_object (2)
    kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip, kSkip,
    kSkip, kSkip, kSkip, kSkip, kSkip, kSkip,
    // long_object: size, lv_tag, ob_digit
    kSkip, kLongTag, kLongDigit,
    kBytesSize, kBytesObSize, kBytesSval,
    kUnicodeSize, kUnicodeState, kUnicodeLength, kAsciiObjectSize,
    // gc: size, collecting; gen_object: size, gi_name, gi_iframe, gi_frame_state
    kSkip, kSkip, kSkip, kGenName, kSkip, kSkip,
};
// clang-format on

struct Values {
  uint64_t v[kSlotCount] = {};
  bool has[kSlotCount] = {};
  uint64_t operator[](Slot slot) const { return v[slot]; }
};

absl::StatusOr<Values> ReadSlots(std::span<const unsigned char> bytes, std::span<const Slot> order) {
  if (bytes.size() < (kHeaderWords + order.size()) * 8) {
    return absl::InvalidArgumentError("debug offsets truncated");
  }
  Values values;
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] == kSkip) continue;
    values.v[order[i]] = Field<uint64_t>(bytes.data(), (kHeaderWords + i) * 8);
    values.has[order[i]] = true;
  }
  return values;
}

// Every offset inside its struct, the structs' sizes sane, and fields in the order CPython
// declares them: what a shifted table (a field order we do not know) would break.
bool Consistent(const Values& v, bool free_threaded) {
  constexpr uint64_t kMaxStruct = 1 << 24;
  auto inside = [&](Slot size, std::initializer_list<Slot> fields) {
    if (v[size] == 0 || v[size] > kMaxStruct) return false;
    for (Slot field : fields) {
      if (v.has[field] && v[field] >= v[size]) return false;
    }
    return true;
  };
  auto ascending = [&](std::initializer_list<Slot> fields) {
    uint64_t last = 0;
    bool first = true;
    for (Slot field : fields) {
      if (!first && v[field] <= last) return false;
      last = v[field];
      first = false;
    }
    return true;
  };
  auto aligned = [&](std::initializer_list<Slot> fields) {
    for (Slot field : fields) {
      if (v[field] % 8 != 0) return false;
    }
    return true;
  };
  // ob_refcnt (8 bytes; free-threaded: 0x18 of thread id, flags and split counts) first.
  const bool header_ok = free_threaded ? v[kObType] == 0x18 : v[kObType] == 0x08;
  return inside(kRuntimeSize, {kInterpretersHead}) &&
         inside(kInterpSize, {kInterpNext, kThreadsHead, kCevalGil, kGilLocked, kGilHolder}) &&
         v[kGil] < v[kGilHolder] && v[kGil] < v[kGilLocked] &&
         inside(kTstateSize, {kTstateNext, kTstateInterp, kCurrentFrame, kThreadId,
                              kNativeThreadId, kDatastackChunk}) &&
         v[kDatastackChunk] + 24 <= v[kTstateSize] &&
         ascending({kTstateNext, kTstateInterp, kCurrentFrame, kNativeThreadId}) &&
         inside(kFrameSize, {kFramePrevious, kFrameExecutable, kFrameInstrPtr, kFrameOwner}) &&
         inside(kCodeSize, {kCodeFilename, kCodeName, kCodeQualname, kCodeLinetable,
                            kCodeFirstlineno, kCodeTlbc}) &&
         v[kCodeAdaptive] <= v[kCodeSize] && v[kCodeAdaptive] >= 32 &&
         ascending({kCodeFilename, kCodeName, kCodeQualname, kCodeLinetable}) &&
         v[kCodeFirstlineno] < v[kCodeFilename] && v[kCodeFirstlineno] % 4 == 0 &&
         aligned({kInterpretersHead, kInterpNext, kThreadsHead, kCevalGil, kGilHolder,
                  kTstateNext, kCurrentFrame, kNativeThreadId, kDatastackChunk, kFramePrevious,
                  kFrameExecutable, kFrameInstrPtr, kCodeFilename, kCodeLinetable,
                  kCodeAdaptive, kBytesObSize}) &&
         header_ok && v[kBytesObSize] == v[kObType] + 8 &&
         inside(kBytesSize, {kBytesObSize, kBytesSval}) && v[kBytesSval] > v[kBytesObSize] &&
         inside(kUnicodeSize, {kUnicodeState, kUnicodeLength}) &&
         v[kAsciiObjectSize] <= v[kUnicodeSize] && v[kUnicodeLength] < v[kUnicodeState] &&
         v[kUnicodeState] < v[kAsciiObjectSize] &&
         (!v.has[kGenName] || (v[kGenName] % 8 == 0 && v[kGenName] > v[kObType] &&
                               v[kGenName] < 0x100)) &&
         (!v.has[kLongTag] || v[kLongDigit] == v[kLongTag] + 8);
}

uint32_t U32(uint64_t value) { return static_cast<uint32_t>(value); }

CPythonLayout Build(const Values& v, uint64_t version, bool free_threaded) {
  CPythonLayout layout{};
  absl::SNPrintF(layout.series, sizeof(layout.series), "%d.%d", version >> 24,
                 (version >> 16) & 0xff);
  layout.free_threaded = free_threaded;
  layout.from_debug_offsets = true;
  layout.object_type = U32(v[kObType]);
  layout.var_object_size = U32(v[kBytesObSize]);  // PyVarObject.ob_size, as in every var object

  layout.runtime_interpreters_head = U32(v[kInterpretersHead]);
  // struct pyinterpreters {mutex, head, main, ...}: main follows head (3.11-3.14).
  layout.runtime_interpreters_main = U32(v[kInterpretersHead] + 8);
  layout.gil_source = GilSource::kInterpreterGil;
  layout.runtime_tstate_current = kNoField;
  layout.runtime_gil_locked = kNoField;
  // ceval.gil points at the GIL in use (the main interpreter's own, interp->_gil); the debug
  // offsets give _gil's fields from the interpreter state, so subtract where _gil starts.
  layout.interp_ceval_gil = U32(v[kCevalGil]);
  layout.gil_last_holder = U32(v[kGilHolder] - v[kGil]);
  layout.gil_locked = U32(v[kGilLocked] - v[kGil]);
  layout.interp_next = U32(v[kInterpNext]);
  layout.interp_threads_head = U32(v[kThreadsHead]);

  layout.tstate_next = U32(v[kTstateNext]);
  layout.tstate_cframe = kNoField;
  layout.tstate_current_frame = U32(v[kCurrentFrame]);
  layout.tstate_native_thread_id = U32(v[kNativeThreadId]);
  // Not published: datastack_top and datastack_limit follow datastack_chunk (3.11-3.14). Only
  // used to copy the top of the frame stack in one read; checked against the chunk on use.
  layout.tstate_datastack_chunk = U32(v[kDatastackChunk]);
  layout.tstate_datastack_top = U32(v[kDatastackChunk] + 8);
  layout.tstate_datastack_limit = U32(v[kDatastackChunk] + 16);
  layout.cframe_current_frame = kNoField;

  layout.frame_code = U32(v[kFrameExecutable]);
  layout.frame_previous = U32(v[kFramePrevious]);
  layout.frame_instr = U32(v[kFrameInstrPtr]);
  layout.frame_owner = U32(v[kFrameOwner]);
  layout.frame_owner_thread = 0;
  layout.frame_owner_generator = 1;
  layout.frame_owner_cstack = 3;
  // Only free-threaded 3.14+ builds give frames their own bytecode copies (0 otherwise).
  if (free_threaded && v.has[kFrameTlbcIndex] && v[kFrameTlbcIndex] != 0 && v.has[kCodeTlbc] &&
      v[kCodeTlbc] != 0) {
    layout.frame_tlbc_index = U32(v[kFrameTlbcIndex]);
    layout.code_tlbc = U32(v[kCodeTlbc]);
  }

  layout.code_firstlineno = U32(v[kCodeFirstlineno]);
  layout.code_filename = U32(v[kCodeFilename]);
  layout.code_name = U32(v[kCodeName]);
  layout.code_qualname = U32(v[kCodeQualname]);
  layout.code_linetable = U32(v[kCodeLinetable]);
  // Not published (3.13, 3.14): the struct ends {..., int _co_firsttraceable; void *co_extra;
  // [co_tlbc (free-threaded 3.14)]; co_code_adaptive[]}, and co_framesize is the second int
  // after co_firstlineno {firstlineno, nlocalsplus, framesize}. Values read through them are
  // bounds-checked against the code object before use.
  uint64_t before_code = layout.code_tlbc != kNoField ? v[kCodeTlbc] : v[kCodeAdaptive];
  layout.code_firsttraceable = U32(before_code - 16);
  layout.code_framesize = U32(v[kCodeFirstlineno] + 8);
  layout.code_nlocalsplus = kNoField;
  layout.code_stacksize = kNoField;
  layout.frame_specials_words = 0;
  layout.code_bytecode = U32(v[kCodeAdaptive]);

  layout.unicode_length = U32(v[kUnicodeLength]);
  layout.unicode_state = U32(v[kUnicodeState]);
  layout.unicode_ascii_data = U32(v[kAsciiObjectSize]);
  // PyCompactUnicodeObject adds utf8_length and utf8 to PyASCIIObject.
  layout.unicode_compact_data = U32(v[kAsciiObjectSize] + 16);
  // Free-threaded builds made `interned` a whole byte (read atomically) in 3.14; 3.13t keeps
  // the 2-bit field, as checked on a 3.13.5 --disable-gil build.
  const uint64_t minor = (version >> 16) & 0xff;
  layout.unicode_kind_shift = free_threaded && minor >= 14 ? 8 : 2;
  layout.bytes_data = U32(v[kBytesSval]);
  if (v.has[kGenName] && v.has[kLongTag]) {
    // PyGenObject: ..., gi_name, gi_qualname, ... (3.14).
    layout.gen_qualname = U32(v[kGenName] + 8);
    layout.long_lv_tag = U32(v[kLongTag]);
    layout.long_digits = U32(v[kLongDigit]);
  }

  layout.frame_model = FrameModel::kInterpreterFrame;
  layout.line_format = LineFormat::kLocationTable;
  layout.tstate_interp = U32(v[kTstateInterp]);
  layout.tstate_frame = kNoField;
  layout.tstate_thread_id = U32(v[kThreadId]);
  layout.lasti_in_code_units = false;
  layout.frame_executing = 0;
  return layout;
}

}  // namespace

std::optional<uint64_t> DebugOffsetsVersion(std::span<const unsigned char> bytes) {
  if (bytes.size() < kHeaderWords * 8 || memcmp(bytes.data(), kCookie, sizeof(kCookie)) != 0) {
    return std::nullopt;
  }
  return Field<uint64_t>(bytes.data(), 8);
}

absl::StatusOr<CPythonLayout> LayoutFromDebugOffsets(std::span<const unsigned char> bytes) {
  std::optional<uint64_t> version = DebugOffsetsVersion(bytes);
  if (!version.has_value()) return absl::InvalidArgumentError("no _Py_DebugOffsets cookie");
  const uint64_t free_threaded_word = Field<uint64_t>(bytes.data(), 16);
  const bool free_threaded = free_threaded_word != 0;
  const uint32_t minor = static_cast<uint32_t>((*version >> 16) & 0xff);
  const std::string name = FormatPythonVersion(static_cast<uint32_t>(*version));
  if ((*version >> 24) != 3 || minor < 13 || free_threaded_word > 1) {
    return absl::UnimplementedError(
        absl::StrFormat("CPython %s: unexpected _Py_DebugOffsets header", name));
  }
  std::span<const Slot> order = minor == 13 ? std::span<const Slot>(kOrder313)
                                            : std::span<const Slot>(kOrder314);
  absl::StatusOr<Values> values = ReadSlots(bytes, order);
  if (!values.ok()) return values.status();
  if (!Consistent(*values, free_threaded)) {
    return absl::UnimplementedError(absl::StrFormat(
        "CPython %s layout unknown: its _Py_DebugOffsets do not match the field order of 3.%d",
        name, minor == 13 ? 13 : 14));
  }
  return Build(*values, *version, free_threaded);
}

}  // namespace stallscope
