// Finding a process's CPython interpreter: the ELF object (the executable, or a mapped
// libpython3.X.so) that defines _PyRuntime in its dynamic symbol table, where it is loaded,
// and which version it is.
#ifndef STALLSCOPE_AGENT_PYTHON_INTERPRETER_LOCATOR_H_
#define STALLSCOPE_AGENT_PYTHON_INTERPRETER_LOCATOR_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace stallscope {

struct InterpreterSymbols {
  std::string path;        // as the target sees it, e.g. "/usr/bin/python3.11"
  uint64_t load_bias = 0;  // run-time address - ELF address (0 for ET_EXEC)
  // ELF addresses (no bias applied).
  uint64_t runtime = 0;                  // _PyRuntime
  std::optional<uint64_t> version;       // Py_Version (3.11+)
  std::optional<uint64_t> code_type;     // PyCode_Type
  std::optional<uint64_t> unicode_type;  // PyUnicode_Type
  std::optional<uint64_t> bytes_type;    // PyBytes_Type
  std::optional<uint64_t> long_type;     // PyLong_Type
  bool debug_build = false;              // Py_REF_DEBUG symbols exported: headers differ
  bool free_threaded = false;            // a "t" (no-GIL) build: object headers differ
  std::string series_from_name;          // "3.10" from "libpython3.10.so.1.0", "" if none
};

// NotFound when the process does not exist or maps no object defining _PyRuntime. Mapped
// objects are opened through <proc_root>/<pid>/map_files (the file the target really mapped, in
// any chroot or mount namespace), else by their path inside <proc_root>/<pid>/root.
absl::StatusOr<InterpreterSymbols> LocateInterpreter(pid_t pid, const std::string& proc_root);

// The run-time address of the .AsyncioDebug section (CPython 3.14+'s _Py_AsyncioModuleDebugOffsets)
// of the process's _asyncio extension module, nullopt when it is not loaded (asyncio not imported
// yet, an older CPython, or _asyncio built into the executable without it).
std::optional<uint64_t> LocateAsyncioDebug(pid_t pid, const std::string& proc_root);

// "3.11" from a file name like "python3.11", "libpython3.11.so.1.0" or "libpython3.13t.so".
std::string PythonSeriesFromFilename(const std::string& path);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_INTERPRETER_LOCATOR_H_
