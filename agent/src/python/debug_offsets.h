// CPython 3.13+ publishes its own struct layout: _PyRuntime starts with _Py_DebugOffsets (the
// same data the remote debugging tools use): the cookie "xdebugpy", PY_VERSION_HEX, a
// free-threaded flag, then tables of uint64 offsets, each table led by its struct's size. They
// are written by the interpreter's own compiler from its own headers, so debug (Py_DEBUG) and
// free-threaded builds carry their own object sizes, and a new 3.x release works unchanged as
// long as the tables keep their order (new fields are appended within a table).
//
// The order of the fields is the one thing that is data here: 3.13's and 3.14's are known;
// later versions are read with 3.14's order and accepted only if every offset read is
// consistent (inside its struct, aligned, fields in the order CPython declares them), else
// refused with a message naming the version.
#ifndef STALLSCOPE_AGENT_PYTHON_DEBUG_OFFSETS_H_
#define STALLSCOPE_AGENT_PYTHON_DEBUG_OFFSETS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "absl/status/statusor.h"
#include "python/cpython_layout.h"

namespace stallscope {

// Bytes of _PyRuntime to copy: more than any known _Py_DebugOffsets (3.14: about 0x300).
inline constexpr size_t kDebugOffsetsReadBytes = 0x400;

// PY_VERSION_HEX when `bytes` start with the cookie, nullopt when they do not (before 3.13).
std::optional<uint64_t> DebugOffsetsVersion(std::span<const unsigned char> bytes);

// The layout the offsets describe. Unimplemented (message naming the version) when they are
// not consistent with any field order known here; InvalidArgument without the cookie.
absl::StatusOr<CPythonLayout> LayoutFromDebugOffsets(std::span<const unsigned char> bytes);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_DEBUG_OFFSETS_H_
