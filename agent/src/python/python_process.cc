#include "python/python_process.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "python/interpreter_locator.h"

namespace stallscope {

absl::StatusOr<std::unique_ptr<PythonProcess>> PythonProcess::Open(pid_t pid,
                                                                   const std::string& proc_root) {
  absl::StatusOr<InterpreterSymbols> symbols = LocateInterpreter(pid, proc_root);
  if (!symbols.ok()) return symbols.status();
  if (!symbols->version.has_value()) {
    // Py_Version exists since 3.11: an older interpreter, named by its file.
    std::string series =
        symbols->series_from_name.empty() ? "before 3.11" : symbols->series_from_name;
    return absl::UnimplementedError(absl::StrFormat(
        "pid %d runs CPython %s (%s), whose layout is not verified (supported: CPython %s)", pid,
        series, symbols->path, SupportedPythonSeries()));
  }
  ProcessMemory memory(pid);
  uint32_t hex_version = 0;
  absl::Status status = memory.ReadValue(*symbols->version + symbols->load_bias, &hex_version);
  if (!status.ok()) return status;
  std::string version = FormatPythonVersion(hex_version);
  const CPythonLayout* layout = FindCPythonLayout(hex_version);
  if (layout == nullptr) {
    return absl::UnimplementedError(absl::StrFormat(
        "pid %d runs CPython %s (%s), whose layout is not verified (supported: CPython %s)", pid,
        version, symbols->path, SupportedPythonSeries()));
  }
  if (symbols->debug_build || symbols->free_threaded) {
    return absl::UnimplementedError(absl::StrFormat(
        "pid %d runs a %s build of CPython %s (%s): its object layout differs (supported: "
        "release builds with the GIL)",
        pid, symbols->debug_build ? "debug" : "free-threaded", version, symbols->path));
  }
  if (!symbols->code_type || !symbols->unicode_type || !symbols->bytes_type) {
    return absl::UnimplementedError(absl::StrFormat(
        "pid %d: CPython %s in %s does not export PyCode_Type/PyUnicode_Type/PyBytes_Type", pid,
        version, symbols->path));
  }
  CPythonAddresses addresses{.runtime = symbols->runtime + symbols->load_bias,
                             .code_type = *symbols->code_type + symbols->load_bias,
                             .unicode_type = *symbols->unicode_type + symbols->load_bias,
                             .bytes_type = *symbols->bytes_type + symbols->load_bias};
  return std::unique_ptr<PythonProcess>(
      new PythonProcess(pid, std::move(version), symbols->path, *layout, addresses));
}

PythonProcess::PythonProcess(pid_t pid, std::string version, std::string interpreter_path,
                             const CPythonLayout& layout, CPythonAddresses addresses)
    : memory_(pid),
      version_(std::move(version)),
      interpreter_path_(std::move(interpreter_path)),
      reader_(&memory_, layout, addresses) {}

absl::Status PythonProcess::RefreshThreads() {
  absl::StatusOr<std::vector<PythonThread>> threads = reader_.Threads();
  if (!threads.ok()) return threads.status();
  tstates_.clear();
  for (const PythonThread& thread : *threads) tstates_[thread.tid] = thread.tstate;
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
    absl::StatusOr<std::vector<v1::Frame>> stack =
        reader_.Stack({.tid = tid, .tstate = it->second});
    if (stack.ok() || refreshed || !absl::IsFailedPrecondition(stack.status())) return stack;
    absl::Status status = RefreshThreads();
    if (!status.ok()) return status;
    refreshed = true;
    it = tstates_.find(tid);
  }
  return absl::NotFoundError(
      absl::StrFormat("pid %d has no Python thread state for thread %d", pid(), tid));
}

std::optional<pid_t> PythonProcess::GilHolder() {
  absl::StatusOr<std::optional<pid_t>> holder = reader_.GilHolder();
  if (!holder.ok()) return std::nullopt;
  return *holder;
}

}  // namespace stallscope
