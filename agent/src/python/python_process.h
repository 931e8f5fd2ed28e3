// A running CPython process whose Python stacks can be read from outside, without stopping or
// changing it: the interpreter's structures are copied with process_vm_readv (which needs
// ptrace permission over the target, e.g. root, but attaches nothing).
//
// Supported: CPython 3.13 and later through the layout the interpreter publishes itself
// (_Py_DebugOffsets at the start of _PyRuntime, see debug_offsets.h), debug and free-threaded
// builds included; release (GIL) builds of 3.8 to 3.12 through tables. Verified by tests on
// live processes: Debian 12's /usr/bin/python3.11 (3.11.2; _PyRuntime in the executable),
// --enable-shared builds 3.8.18 to 3.13.0 (_PyRuntime in libpython3.X.so), Debian trixie's
// 3.13 and sid's 3.14 and 3.14-dbg (tests/integration/test_python_roots.py). Before 3.11 there
// is no Py_Version: the series comes from the interpreter's file name (version() is then
// "3.10", without the micro version), checked against the live _PyRuntime; functions are
// named by co_name, unqualified ("get", not "Handler.get"), as there is no co_qualname; and
// threads are matched through glibc's struct pthread (no native_thread_id). Other versions
// (3.7 and older, 3.8-3.12 pre-releases, debug or free-threaded 3.8-3.12) are refused with
// Unimplemented naming the version.
//
// Stacks of a running target are read while it runs: a stack is a best-effort snapshot (a
// frame may be popped while we copy the next), but always one thread's. Not thread-safe.
#ifndef STALLSCOPE_AGENT_PYTHON_PYTHON_PROCESS_H_
#define STALLSCOPE_AGENT_PYTHON_PYTHON_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "python/cpython_reader.h"
#include "python/interpreter_locator.h"
#include "python/remote_memory.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

class PythonProcess {
 public:
  // Errors: NotFound (no such process, or not CPython: no _PyRuntime in the executable or a
  // mapped libpython), Unimplemented (a CPython version or build without a verified layout;
  // the message names it), PermissionDenied (process_vm_readv refused).
  static absl::StatusOr<std::unique_ptr<PythonProcess>> Open(
      pid_t pid, const std::string& proc_root = "/proc");

  pid_t pid() const { return memory_.pid(); }
  std::string version() const { return version_; }  // "3.11.2"; before 3.11 "3.10"
  // The object _PyRuntime was found in: "/usr/bin/python3.11", ".../libpython3.11.so.1.0".
  const std::string& interpreter_path() const { return interpreter_path_; }
  // A free-threaded (no-GIL) build: there is no GIL holder to name.
  bool free_threaded() const { return layout_.free_threaded; }
  const CPythonLayout& layout() const { return layout_; }

  // The Python frames running on OS thread `tid` now, innermost first: function = qualified
  // name (co_qualname; co_name before 3.11), file = co_filename, line, module (see
  // module_name.h), kind PYTHON.
  // NotFound when the process is gone or `tid` has no Python thread state; Unavailable when
  // the thread's calls changed during every read (see CPythonReader::Stack).
  absl::StatusOr<std::vector<v1::Frame>> ThreadStack(pid_t tid);

  // The asyncio Task running on OS thread `tid` (CPython 3.14+, once its _asyncio module is
  // loaded), nullopt if none or unknown.
  std::optional<RunningTask> RunningTaskOn(pid_t tid);

  // OS thread ids (as the agent's pid namespace sees them, also for a target in a container's
  // own pid namespace) of the threads that have a Python thread state.
  absl::StatusOr<std::vector<pid_t>> ThreadIds();

  // The OS thread holding the GIL, nullopt if none or unknown (including read errors). 3.8-3.11:
  // _PyRuntime.gilstate.tstate_current; 3.12+: the main interpreter's GIL's last holder while
  // it is locked.
  std::optional<pid_t> GilHolder();

  // Cost accounting: process_vm_readv calls so far, and the code cache's state.
  uint64_t read_calls() const { return memory_.read_calls(); }
  const CodeCache& code_cache() const { return reader_.code_cache(); }
  const CPythonReader::Stats& stack_stats() const { return reader_.stats(); }

 private:
  PythonProcess(pid_t pid, std::string version, std::string interpreter_path,
                const CPythonLayout& layout, CPythonAddresses addresses);
  // The layout of this process's version and build: from its _Py_DebugOffsets (3.13+) or a
  // table; sets *version.
  static absl::StatusOr<CPythonLayout> FindLayout(pid_t pid, const InterpreterSymbols& symbols,
                                                  ProcessMemory& memory, std::string* version);
  absl::Status RefreshThreads();
  // A target in its own pid namespace (a container) records its threads by the ids it sees;
  // the agent knows them by ours. Maps between them (from NSpid in /proc/PID/task/*/status);
  // empty when the target shares our pid namespace.
  void RefreshNamespaceTids();
  pid_t HostTid(pid_t namespace_tid) const;  // 0 if unknown

  ProcessMemory memory_;
  std::string version_;
  std::string interpreter_path_;
  CPythonLayout layout_;  // before reader_, which keeps a reference to it
  CPythonReader reader_;
  std::string proc_root_ = "/proc";
  uint64_t long_type_ = 0;   // PyLong_Type, run-time address
  int asyncio_lookups_ = 0;  // tries to find the _asyncio module's debug offsets so far
  absl::flat_hash_map<pid_t, PythonThread> tstates_;  // our tid -> its (namespace) id and state
  absl::flat_hash_map<pid_t, pid_t> ns_to_host_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_PYTHON_PROCESS_H_
