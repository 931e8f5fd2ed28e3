#include "python/cpython_layout.h"

#include <algorithm>
#include <initializer_list>

#include "absl/strings/str_format.h"

namespace stallscope {
namespace {

// Offsets from offsetof() on each version's own headers (Py_BUILD_CORE), then checked against
// live processes by tests/unit/python/python_process_test.cc.

// CPython 3.11.x: Debian 12's 3.11.2 (_PyRuntime in the executable) and a --enable-shared
// 3.11.7 (in libpython3.11.so). Internal structs did not change within 3.11 releases.
constexpr CPythonLayout kPython311 = {
    .series = "3.11",
    .runtime_interpreters_head = 0x28,
    .runtime_interpreters_main = 0x30,
    .gil_source = GilSource::kTstateCurrent,
    .runtime_tstate_current = 0x240,
    .runtime_gil_locked = 0x178,
    .interp_ceval_gil = kNoField,
    .gil_last_holder = kNoField,
    .gil_locked = kNoField,
    .interp_next = 0x00,
    .interp_threads_head = 0x10,
    .tstate_next = 0x08,
    .tstate_cframe = 0x38,
    .tstate_current_frame = kNoField,
    .tstate_native_thread_id = 0xa0,
    .tstate_datastack_chunk = 0x128,
    .tstate_datastack_top = 0x130,
    .tstate_datastack_limit = 0x138,
    .cframe_current_frame = 0x08,
    .frame_code = 0x20,
    .frame_previous = 0x30,
    .frame_instr = 0x38,
    .frame_owner = 0x45,
    .frame_owner_thread = 0,
    .frame_owner_generator = 1,
    .frame_owner_cstack = 0xff,
    .code_firstlineno = 0x48,
    .code_filename = 0x70,
    .code_name = 0x78,
    .code_qualname = 0x80,
    .code_linetable = 0x88,
    .code_firsttraceable = 0xa8,
    .code_framesize = kNoField,
    .code_nlocalsplus = 0x4c,
    .code_stacksize = 0x44,
    .frame_specials_words = 9,
    .code_bytecode = 0xb8,
    .unicode_length = 0x10,
    .unicode_state = 0x20,
    .unicode_ascii_data = 48,
    .unicode_compact_data = 72,
    .bytes_data = 0x20,
    .frame_model = FrameModel::kInterpreterFrame,
    .line_format = LineFormat::kLocationTable,
    .tstate_interp = 0x10,
    .tstate_frame = kNoField,
    .tstate_thread_id = kNoField,
    .lasti_in_code_units = false,
    .frame_executing = 0,
};

// CPython 3.12.x (verified: pyenv's 3.12.1). tstate_current became thread-local; the GIL moved
// into the interpreter; str lost its wstr fields.
constexpr CPythonLayout kPython312 = {
    .series = "3.12",
    .runtime_interpreters_head = 0x28,
    .runtime_interpreters_main = 0x30,
    .gil_source = GilSource::kInterpreterGil,
    .runtime_tstate_current = kNoField,
    .runtime_gil_locked = kNoField,
    .interp_ceval_gil = 0x180,
    .gil_last_holder = 0x08,
    .gil_locked = 0x10,
    .interp_next = 0x00,
    .interp_threads_head = 0x48,
    .tstate_next = 0x08,
    .tstate_cframe = 0x38,
    .tstate_current_frame = kNoField,
    .tstate_native_thread_id = 0x90,
    .tstate_datastack_chunk = 0xe8,
    .tstate_datastack_top = 0xf0,
    .tstate_datastack_limit = 0xf8,
    .cframe_current_frame = 0x00,
    .frame_code = 0x00,
    .frame_previous = 0x08,
    .frame_instr = 0x38,
    .frame_owner = 0x46,
    .frame_owner_thread = 0,
    .frame_owner_generator = 1,
    .frame_owner_cstack = 3,
    .code_firstlineno = 0x44,
    .code_filename = 0x70,
    .code_name = 0x78,
    .code_qualname = 0x80,
    .code_linetable = 0x88,
    .code_firsttraceable = 0xb0,
    .code_framesize = 0x4c,
    .code_nlocalsplus = kNoField,
    .code_stacksize = kNoField,
    .frame_specials_words = 0,
    .code_bytecode = 0xc0,
    .unicode_length = 0x10,
    .unicode_state = 0x20,
    .unicode_ascii_data = 40,
    .unicode_compact_data = 56,
    .bytes_data = 0x20,
    .frame_model = FrameModel::kInterpreterFrame,
    .line_format = LineFormat::kLocationTable,
    .tstate_interp = 0x10,
    .tstate_frame = kNoField,
    .tstate_thread_id = kNoField,
    .lasti_in_code_units = false,
    .frame_executing = 0,
};

// Before 3.11 (verified: pyenv's --enable-shared 3.8.18, 3.9.18 and 3.10.13; _PyRuntime in
// libpython3.X.so). Offsets printed by a throwaway C program compiled against each
// installation's own headers (-I<prefix>/include/python3.X with Py_BUILD_CORE; offsetof() on
// _PyRuntimeState, PyInterpreterState, PyThreadState, PyFrameObject and PyCodeObject). The
// three differ only where given as arguments. str still has its wstr fields. These versions
// do not export Py_Version (the series comes from the interpreter's file name and is checked
// on the live runtime, see python_process.cc) and have no native_thread_id: a thread is known
// by its pthread_t (see cpython_reader.cc).
constexpr CPythonLayout Pre311Layout(const char* series, uint32_t tstate_current,
                                     uint32_t gil_locked, uint32_t lasti, uint32_t state,
                                     uint8_t executing, LineFormat line_format,
                                     bool lasti_in_code_units) {
  CPythonLayout layout = {
      .series = {},
      .runtime_interpreters_head = 0x20,
      .runtime_interpreters_main = 0x28,
      .gil_source = GilSource::kTstateCurrent,
      .runtime_tstate_current = tstate_current,
      .runtime_gil_locked = gil_locked,
      .interp_ceval_gil = kNoField,
      .gil_last_holder = kNoField,
      .gil_locked = kNoField,
      .interp_next = 0x00,
      .interp_threads_head = 0x08,  // tstate_head
      .tstate_next = 0x08,
      .tstate_cframe = kNoField,
      .tstate_current_frame = kNoField,
      .tstate_native_thread_id = kNoField,
      .tstate_datastack_chunk = kNoField,
      .tstate_datastack_top = kNoField,
      .tstate_datastack_limit = kNoField,
      .cframe_current_frame = kNoField,
      .frame_code = 0x20,      // f_code
      .frame_previous = 0x18,  // f_back
      .frame_instr = lasti,    // f_lasti
      .frame_owner = state,  // f_executing or f_state (char)
      .frame_owner_thread = 0,
      .frame_owner_generator = 0xfe,
      .frame_owner_cstack = 0xff,
      .code_firstlineno = 0x28,
      .code_filename = 0x68,
      .code_name = 0x70,
      .code_qualname = 0x70,   // co_name: no co_qualname before 3.11
      .code_linetable = 0x78,  // co_linetable (3.10) or co_lnotab
      .code_firsttraceable = kNoField,
      .code_framesize = kNoField,
      .code_nlocalsplus = kNoField,
      .code_stacksize = kNoField,
      .frame_specials_words = 0,
      .code_bytecode = 0x80,  // co_code is a separate bytes object: only the header's size
      .unicode_length = 0x10,
      .unicode_state = 0x20,
      .unicode_ascii_data = 48,
      .unicode_compact_data = 72,
      .bytes_data = 0x20,
      .frame_model = FrameModel::kFrameObject,
      .line_format = line_format,
      .tstate_interp = 0x10,
      .tstate_frame = 0x18,
      .tstate_thread_id = 0xb0,
      .lasti_in_code_units = lasti_in_code_units,
      .frame_executing = executing,
  };
  for (int i = 0; series[i] != '\0' && i + 1 < static_cast<int>(sizeof(layout.series)); ++i) {
    layout.series[i] = series[i];
  }
  return layout;
}

// f_executing is 1 while a frame runs (3.8, 3.9); 3.10's f_state is then FRAME_EXECUTING (0).
constexpr CPythonLayout kPython38 =
    Pre311Layout("3.8", 0x558, 0x490, 0x68, 0x74, 1, LineFormat::kLnotab, false);
constexpr CPythonLayout kPython39 =
    Pre311Layout("3.9", 0x238, 0x170, 0x68, 0x74, 1, LineFormat::kLnotab, false);
constexpr CPythonLayout kPython310 =
    Pre311Layout("3.10", 0x238, 0x170, 0x60, 0x6c, 0, LineFormat::kLineTable310, true);

constexpr uint32_t kReleaseLevelFinal = 0xf;

// The end of the furthest field (of `size` bytes each) that this version has.
uint32_t ReadSize(std::initializer_list<uint32_t> offsets, uint32_t size) {
  uint32_t end = 0;
  for (uint32_t offset : offsets) {
    if (offset != kNoField) end = std::max(end, offset + size);
  }
  return end;
}

}  // namespace

uint32_t CPythonLayout::TstateReadSize() const {
  return ReadSize({tstate_next, tstate_cframe, tstate_current_frame, tstate_native_thread_id,
                   tstate_datastack_chunk, tstate_datastack_top, tstate_datastack_limit,
                   tstate_interp, tstate_frame, tstate_thread_id},
                  8);
}

uint32_t CPythonLayout::FrameReadSize() const {
  uint32_t size = ReadSize({frame_code, frame_previous, frame_instr}, 8);
  if (frame_tlbc_index != kNoField) size = std::max(size, frame_tlbc_index + 4);
  return frame_owner == kNoField ? size : std::max(size, frame_owner + 1);
}

const CPythonLayout* FindCPythonLayout(uint32_t hex_version) {
  uint32_t major = hex_version >> 24;
  uint32_t minor = (hex_version >> 16) & 0xff;
  uint32_t level = (hex_version >> 4) & 0xf;
  // Alphas, betas and release candidates changed internal structs between builds.
  if (level != kReleaseLevelFinal || major != 3) return nullptr;
  switch (minor) {
    case 11:
      return &kPython311;
    case 12:
      return &kPython312;
    default:
      return nullptr;
  }
}

const CPythonLayout* FindCPythonLayoutForSeries(const std::string& series) {
  if (series == "3.8") return &kPython38;
  if (series == "3.9") return &kPython39;
  if (series == "3.10") return &kPython310;
  return nullptr;
}

const char* SupportedPythonSeries() { return "3.8, 3.9, 3.10, 3.11, 3.12"; }

std::string FormatPythonVersion(uint32_t hex_version) {
  uint32_t major = hex_version >> 24;
  uint32_t minor = (hex_version >> 16) & 0xff;
  uint32_t micro = (hex_version >> 8) & 0xff;
  uint32_t level = (hex_version >> 4) & 0xf;
  uint32_t serial = hex_version & 0xf;
  std::string version = absl::StrFormat("%d.%d.%d", major, minor, micro);
  switch (level) {
    case 0xa:
      return absl::StrFormat("%sa%d", version, serial);
    case 0xb:
      return absl::StrFormat("%sb%d", version, serial);
    case 0xc:
      return absl::StrFormat("%src%d", version, serial);
    default:
      return version;
  }
}

}  // namespace stallscope
