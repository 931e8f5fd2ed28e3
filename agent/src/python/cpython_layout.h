// Where the fields a stack reader needs sit in one CPython version's structs (x86_64/arm64).
// One value drives the one frame walker (cpython_reader.h) whichever way it was obtained:
// tables for 3.8-3.12 release builds (below; each checked with offsetof() against that
// version's headers and by reading live processes), or the interpreter's own _Py_DebugOffsets
// from 3.13 (debug_offsets.h), which also covers debug and free-threaded builds.
#ifndef STALLSCOPE_AGENT_PYTHON_CPYTHON_LAYOUT_H_
#define STALLSCOPE_AGENT_PYTHON_CPYTHON_LAYOUT_H_

#include <cstdint>
#include <string>

namespace stallscope {

// A field this version does not have.
inline constexpr uint32_t kNoField = UINT32_MAX;

// How to tell which thread holds the GIL.
enum class GilSource {
  kTstateCurrent,   // 3.11: _PyRuntime.gilstate.tstate_current (and ceval.gil.locked)
  kInterpreterGil,  // 3.12+: the main interpreter's ceval.gil -> {locked, last_holder}
};

// Where a thread's frames live.
enum class FrameModel {
  kInterpreterFrame,  // 3.11+: _PyInterpreterFrame, mostly on the thread's frame stack
  kFrameObject,       // 3.8-3.10: heap PyFrameObjects linked by f_back
};

// How a code object maps instructions to lines.
enum class LineFormat {
  kLocationTable,  // 3.11+: co_linetable (location_table.h)
  kLineTable310,   // 3.10: co_linetable, (byte delta, line delta) pairs
  kLnotab,         // 3.8, 3.9: co_lnotab, (byte increment, line increment) pairs
};

struct CPythonLayout {
  char series[8];  // "3.11"
  bool free_threaded = false;  // no GIL (3.13t+): per-thread chains, no GIL holder to name
  bool from_debug_offsets = false;  // read from the process's own _Py_DebugOffsets

  // PyObject / PyVarObject header (differs in free-threaded builds).
  uint32_t object_type = 0x08;      // ob_type
  uint32_t var_object_size = 0x10;  // ob_size

  // _PyRuntimeState
  uint32_t runtime_interpreters_head;
  uint32_t runtime_interpreters_main;

  GilSource gil_source;
  uint32_t runtime_tstate_current;  // kTstateCurrent
  uint32_t runtime_gil_locked;      // kTstateCurrent: ceval.gil.locked (int)
  uint32_t interp_ceval_gil;        // kInterpreterGil: pointer to struct _gil_runtime_state
  uint32_t gil_last_holder;         // kInterpreterGil: offsets in struct _gil_runtime_state
  uint32_t gil_locked;

  // PyInterpreterState
  uint32_t interp_next;
  uint32_t interp_threads_head;

  // PyThreadState
  uint32_t tstate_next;
  uint32_t tstate_cframe;         // 3.11, 3.12: the current _PyCFrame
  uint32_t tstate_current_frame;  // 3.13+: the current frame, directly
  uint32_t tstate_native_thread_id;  // 3.11+; kNoField before (see tstate_thread_id)
  uint32_t tstate_datastack_chunk;  // the chunk thread-owned frames are allocated in...
  uint32_t tstate_datastack_top;    // ...up to here (frames grow upward)...
  uint32_t tstate_datastack_limit;  // ...and the chunk's end

  // _PyCFrame
  uint32_t cframe_current_frame;

  // _PyInterpreterFrame
  uint32_t frame_code;  // f_code (f_executable in 3.13)
  uint32_t frame_previous;
  // prev_instr (3.11, 3.12) or instr_ptr (3.13): either way CPython takes the line of the
  // code unit it points to, and a frame has not started before _co_firsttraceable.
  uint32_t frame_instr;
  uint32_t frame_owner;        // char
  uint8_t frame_owner_thread;  // on the thread's frame stack (0 in every version)
  uint8_t frame_owner_generator;
  // 3.12+: this owner value and above are not Python code (3.12, 3.13: FRAME_OWNED_BY_CSTACK = 3;
  // 3.14: FRAME_OWNED_BY_INTERPRETER = 3 and CSTACK = 4); 0xff if none.
  uint8_t frame_owner_cstack;
  // 3.14 free-threaded: the frame's thread-local bytecode copy (int32 index into the code's
  // co_tlbc array); kNoField elsewhere.
  uint32_t frame_tlbc_index = kNoField;
  uint32_t code_tlbc = kNoField;

  // PyCodeObject (a PyVarObject: ob_size is the number of 2-byte code units)
  uint32_t code_firstlineno;
  uint32_t code_filename;
  uint32_t code_name;
  uint32_t code_qualname;
  uint32_t code_linetable;
  uint32_t code_firsttraceable;  // int: code unit index of the first traceable instruction
  // How many words a frame of this code takes on the thread's frame stack: co_framesize
  // (3.12+), or frame_specials_words + co_nlocalsplus + co_stacksize (3.11).
  uint32_t code_framesize;
  uint32_t code_nlocalsplus;
  uint32_t code_stacksize;
  uint32_t frame_specials_words;
  uint32_t code_bytecode;  // co_code_adaptive, the instructions

  // str: PyASCIIObject / PyCompactUnicodeObject
  uint32_t unicode_length;
  uint32_t unicode_state;
  uint32_t unicode_ascii_data;    // data of compact ASCII strings (= sizeof(PyASCIIObject))
  uint32_t unicode_compact_data;  // data of other compact strings
  // Where `kind` starts in the state bit field: after interned:2, or after a whole byte for it
  // in free-threaded 3.14+ builds (3.13t still has interned:2).
  uint8_t unicode_kind_shift = 2;

  // bytes
  uint32_t bytes_data;

  // 3.14+ (from the debug offsets; kNoField otherwise), to name asyncio Tasks: a coroutine's
  // __qualname__ (PyGenObject gi_qualname, after gi_name), an int's lv_tag and first digit.
  uint32_t gen_qualname = kNoField;
  uint32_t long_lv_tag = kNoField;
  uint32_t long_digits = kNoField;

  // Before 3.11 (kFrameObject). Function names are then co_name (code_qualname points at it):
  // there is no co_qualname, so methods are reported unqualified ("get", not "Handler.get").
  FrameModel frame_model;
  LineFormat line_format;
  uint32_t tstate_interp;     // PyThreadState.interp (checked when the version is not exported)
  uint32_t tstate_frame;      // PyThreadState.frame: the current PyFrameObject
  uint32_t tstate_thread_id;  // PyThreadState.thread_id: the thread's pthread_t
  // PyFrameObject: f_back is frame_previous, f_code frame_code; f_lasti (int) is frame_instr,
  // the last instruction started: a byte offset (3.8, 3.9) or a code unit index (3.10).
  bool lasti_in_code_units;
  // frame_owner is then f_executing (3.8, 3.9) or f_state (3.10): a frame on a thread's live
  // chain has this value there. Dead frames (kept for reuse) keep a stale f_back, so a chain
  // copied while it changed can pass through one: it is recognized by this byte.
  uint8_t frame_executing;

  // Bytes to copy to get every field above of each struct, in one read.
  uint32_t TstateReadSize() const;
  uint32_t FrameReadSize() const;
  uint32_t CodeReadSize() const { return code_bytecode; }
};

// The layout for a Py_Version / PY_VERSION_HEX value, or null when no verified layout exists.
const CPythonLayout* FindCPythonLayout(uint32_t hex_version);

// The layout of a series without Py_Version (3.8, 3.9, 3.10: "3.10"), or null.
const CPythonLayout* FindCPythonLayoutForSeries(const std::string& series);

// The series with a layout table, for messages: "3.8, 3.9, 3.10, 3.11, 3.12".
const char* SupportedPythonSeries();

// "3.11.2", "3.12.0b1", "3.13.0rc2".
std::string FormatPythonVersion(uint32_t hex_version);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_CPYTHON_LAYOUT_H_
