#include "python/python_process.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "python/asyncio_task.h"
#include "python/debug_offsets.h"
#include "python/interpreter_locator.h"
#include "target_files/target_files.h"

namespace stallscope {
namespace {

// For a version known only by its file name: the runtime must list interpreters (head and
// main set), and the first thread state of the first one (if any) must point back at it.
absl::Status CheckRuntimeLayout(ProcessMemory& memory, uint64_t runtime,
                                const CPythonLayout& layout) {
  uint64_t interpreters[2] = {0, 0};  // head, main
  if (layout.runtime_interpreters_main != layout.runtime_interpreters_head + 8) {
    return absl::InternalError("unexpected runtime layout");
  }
  absl::Status status = memory.Read(runtime + layout.runtime_interpreters_head, interpreters,
                                    sizeof(interpreters));
  if (!status.ok()) return status;
  if (interpreters[0] == 0 || interpreters[0] % 8 != 0 || interpreters[1] == 0 ||
      interpreters[1] % 8 != 0) {
    return absl::DataLossError("_PyRuntime.interpreters.head/main are not interpreters");
  }
  uint64_t tstate = 0;
  status = memory.ReadValue(interpreters[0] + layout.interp_threads_head, &tstate);
  if (!status.ok()) return status;
  if (tstate == 0) return absl::OkStatus();  // no thread state yet
  uint64_t interp = 0;
  status = memory.ReadValue(tstate + layout.tstate_interp, &interp);
  if (!status.ok()) return status;
  if (interp != interpreters[0]) {
    return absl::DataLossError("the first thread state does not point at its interpreter");
  }
  return absl::OkStatus();
}

// The NSpid line of a /proc status file: the id in each pid namespace, ours first, the
// process's own last.
std::optional<std::vector<pid_t>> NamespacePids(const std::string& status_path) {
  std::optional<std::string> status = target_files::ReadProcFile(status_path);
  if (!status.has_value()) return std::nullopt;
  size_t at = status->find("\nNSpid:");
  if (at == std::string::npos) return std::nullopt;
  size_t end = status->find('\n', at + 1);
  std::vector<pid_t> ids;
  for (absl::string_view id : absl::StrSplit(
           absl::string_view(*status).substr(at + 7, end == std::string::npos ? end : end - at - 7),
           absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
    int value = 0;
    if (!absl::SimpleAtoi(id, &value) || value <= 0) return std::nullopt;
    ids.push_back(value);
  }
  return ids;
}

}  // namespace

absl::StatusOr<CPythonLayout> PythonProcess::FindLayout(pid_t pid,
                                                        const InterpreterSymbols& symbols,
                                                        ProcessMemory& memory,
                                                        std::string* version) {
  const uint64_t runtime = symbols.runtime + symbols.load_bias;
  // 3.13+: the interpreter's own layout at the start of _PyRuntime.
  std::vector<unsigned char> head(kDebugOffsetsReadBytes);
  absl::Status status = memory.Read(runtime, head.data(), head.size());
  if (!status.ok()) return status;
  if (std::optional<uint64_t> hex = DebugOffsetsVersion(head); hex.has_value()) {
    *version = FormatPythonVersion(static_cast<uint32_t>(*hex));
    absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(head);
    if (!layout.ok()) {
      return absl::Status(layout.status().code(),
                          absl::StrFormat("pid %d (%s): %s", pid, symbols.path,
                                          layout.status().message()));
    }
    return layout;
  }

  const CPythonLayout* layout = nullptr;
  if (!symbols.version.has_value()) {
    // Py_Version exists since 3.11: an older interpreter, named by its file
    // ("libpython3.10.so.1.0", "python3.10"). Its layout is then checked on the live runtime.
    std::string series =
        symbols.series_from_name.empty() ? "before 3.11" : symbols.series_from_name;
    layout = FindCPythonLayoutForSeries(series);
    *version = series;  // the micro version is not exported before 3.11
  } else {
    uint32_t hex_version = 0;
    status = memory.ReadValue(*symbols.version + symbols.load_bias, &hex_version);
    if (!status.ok()) return status;
    *version = FormatPythonVersion(hex_version);
    layout = FindCPythonLayout(hex_version);
  }
  if (layout == nullptr) {
    return absl::UnimplementedError(absl::StrFormat(
        "CPython %s layout unknown (pid %d, %s; tables for CPython %s, 3.13+ publish their own)",
        *version, pid, symbols.path, SupportedPythonSeries()));
  }
  if (symbols.debug_build || symbols.free_threaded) {
    return absl::UnimplementedError(absl::StrFormat(
        "CPython %s %s build layout unknown (pid %d, %s: its object layout differs; "
        "supported before 3.13: release builds with the GIL)",
        *version, symbols.debug_build ? "debug" : "free-threaded", pid, symbols.path));
  }
  if (!symbols.version.has_value()) {
    status = CheckRuntimeLayout(memory, runtime, *layout);
    if (!status.ok()) {
      if (absl::IsNotFound(status) || absl::IsPermissionDenied(status)) return status;
      return absl::UnimplementedError(absl::StrFormat(
          "CPython %s layout does not match its runtime (pid %d, %s, known by its name): %s",
          *version, pid, symbols.path, status.message()));
    }
  }
  return *layout;
}

absl::StatusOr<std::unique_ptr<PythonProcess>> PythonProcess::Open(pid_t pid,
                                                                   const std::string& proc_root) {
  absl::StatusOr<InterpreterSymbols> symbols = LocateInterpreter(pid, proc_root);
  if (!symbols.ok()) return symbols.status();
  ProcessMemory memory(pid);
  std::string version;
  absl::StatusOr<CPythonLayout> layout = FindLayout(pid, *symbols, memory, &version);
  if (!layout.ok()) return layout.status();
  if (!symbols->code_type || !symbols->unicode_type || !symbols->bytes_type) {
    return absl::UnimplementedError(absl::StrFormat(
        "PyCode_Type/PyUnicode_Type/PyBytes_Type symbols not found in %s (CPython %s, pid %d)",
        symbols->path, version, pid));
  }
  CPythonAddresses addresses{.runtime = symbols->runtime + symbols->load_bias,
                             .code_type = *symbols->code_type + symbols->load_bias,
                             .unicode_type = *symbols->unicode_type + symbols->load_bias,
                             .bytes_type = *symbols->bytes_type + symbols->load_bias};
  auto process = std::unique_ptr<PythonProcess>(
      new PythonProcess(pid, std::move(version), symbols->path, *layout, addresses));
  process->proc_root_ = proc_root;
  if (symbols->long_type.has_value()) process->long_type_ = *symbols->long_type + symbols->load_bias;
  return process;
}

PythonProcess::PythonProcess(pid_t pid, std::string version, std::string interpreter_path,
                             const CPythonLayout& layout, CPythonAddresses addresses)
    : memory_(pid),
      version_(std::move(version)),
      interpreter_path_(std::move(interpreter_path)),
      layout_(layout),
      reader_(&memory_, layout_, addresses) {}

void PythonProcess::RefreshNamespaceTids() {
  ns_to_host_.clear();
  std::optional<std::vector<pid_t>> own = NamespacePids(
      absl::StrFormat("%s/%d/status", proc_root_, pid()));
  if (!own.has_value() || own->size() < 2) return;  // our pid namespace: ids are ours
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(
           absl::StrFormat("%s/%d/task", proc_root_, pid()), error)) {
    std::optional<std::vector<pid_t>> ids = NamespacePids(task.path().string() + "/status");
    if (ids.has_value() && !ids->empty()) ns_to_host_[ids->back()] = ids->front();
  }
}

pid_t PythonProcess::HostTid(pid_t namespace_tid) const {
  if (ns_to_host_.empty()) return namespace_tid;
  auto it = ns_to_host_.find(namespace_tid);
  return it == ns_to_host_.end() ? 0 : it->second;
}

absl::Status PythonProcess::RefreshThreads() {
  absl::StatusOr<std::vector<PythonThread>> threads = reader_.Threads();
  if (!threads.ok()) return threads.status();
  RefreshNamespaceTids();
  tstates_.clear();
  for (const PythonThread& thread : *threads) {
    if (pid_t host = HostTid(thread.tid); host > 0) tstates_[host] = thread;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pid_t>> PythonProcess::ThreadIds() {
  absl::Status status = RefreshThreads();
  if (!status.ok()) return status;
  std::vector<pid_t> tids;
  tids.reserve(tstates_.size());
  for (const auto& [tid, tstate] : tstates_) tids.push_back(tid);
  std::sort(tids.begin(), tids.end());
  return tids;
}

absl::StatusOr<std::vector<v1::Frame>> PythonProcess::ThreadStack(pid_t tid) {
  // The cached thread state is re-validated by the walk itself (its native id must be tid);
  // a stale one is looked up again once.
  bool refreshed = false;
  auto it = tstates_.find(tid);
  if (it == tstates_.end()) {
    absl::Status status = RefreshThreads();
    if (!status.ok()) return status;
    refreshed = true;
    it = tstates_.find(tid);
  }
  while (it != tstates_.end()) {
    absl::StatusOr<std::vector<v1::Frame>> stack = reader_.Stack(it->second);
    if (stack.ok() || refreshed || !absl::IsFailedPrecondition(stack.status())) return stack;
    absl::Status status = RefreshThreads();
    if (!status.ok()) return status;
    refreshed = true;
    it = tstates_.find(tid);
  }
  return absl::NotFoundError(
      absl::StrFormat("pid %d has no Python thread state for thread %d", pid(), tid));
}

std::optional<RunningTask> PythonProcess::RunningTaskOn(pid_t tid) {
  // 3.14+ only; _asyncio is imported by asyncio, usually before the first stall. A few tries,
  // each a /proc/PID/maps read, then no more.
  constexpr int kMaxAsyncioLookups = 3;
  if (layout_.gen_qualname == kNoField) return std::nullopt;
  if (asyncio_lookups_ >= 0 && asyncio_lookups_ < kMaxAsyncioLookups) {
    ++asyncio_lookups_;
    if (std::optional<uint64_t> section = LocateAsyncioDebug(pid(), proc_root_)) {
      unsigned char bytes[kAsyncioDebugBytes];
      if (memory_.Read(*section, bytes, sizeof(bytes)).ok()) {
        absl::StatusOr<AsyncioLayout> asyncio = ParseAsyncioDebugOffsets(bytes);
        if (asyncio.ok()) {
          reader_.SetAsyncio(*asyncio, long_type_);
          asyncio_lookups_ = -1;  // found
        }
      }
    }
  }
  auto it = tstates_.find(tid);
  if (it == tstates_.end()) return std::nullopt;
  absl::StatusOr<std::optional<RunningTask>> task = reader_.RunningTaskOf(it->second);
  if (!task.ok()) return std::nullopt;
  return *task;
}

std::optional<pid_t> PythonProcess::GilHolder() {
  absl::StatusOr<std::optional<pid_t>> holder = reader_.GilHolder();
  if (!holder.ok() || !holder->has_value()) return std::nullopt;
  pid_t host = HostTid(**holder);
  return host > 0 ? std::optional<pid_t>(host) : std::nullopt;
}

}  // namespace stallscope
