#include "python/interpreter_locator.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "symbolize/elf_symbols.h"
#include "symbolize/proc_maps.h"
#include "target_files/target_files.h"

namespace stallscope {
namespace {

using symbolize::MemoryMapping;

enum SymbolIndex {
  kRuntime,
  kVersion,
  kCodeType,
  kUnicodeType,
  kBytesType,
  kRefTotal,
  kNegativeRefcount,
  kLongType
};
// _Py_RefTotal (to 3.11) and _Py_NegativeRefcount exist only in Py_REF_DEBUG (debug) builds.
const std::vector<std::string_view> kSymbolNames = {
    "_PyRuntime",   "Py_Version",   "PyCode_Type",         "PyUnicode_Type",
    "PyBytes_Type", "_Py_RefTotal", "_Py_NegativeRefcount", "PyLong_Type"};

bool IsLibpython(std::string_view basename) {
  return basename.starts_with("libpython") && basename.find(".so") != std::string_view::npos;
}

// "python3.13t", "libpython3.13t.so.1.0": the "t" ABI flag of free-threaded builds, whose
// object headers differ.
bool IsFreeThreadedName(const std::string& path, const std::string& series) {
  if (series.empty()) return false;
  size_t at = path.rfind("python" + series);
  if (at == std::string::npos) return false;
  size_t flags = at + 6 + series.size();
  while (flags < path.size() && path[flags] != '.' && path[flags] != '/') {
    if (path[flags] == 't') return true;
    ++flags;
  }
  return false;
}

std::string ExecutablePath(const std::string& proc_dir) {
  std::string path = target_files::ReadProcLink(proc_dir + "/exe").value_or("");
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

// Opens the object behind a mapping through the target-files door: map_files first (the very
// inode mapped, even when unlinked by a package upgrade under a running server), else its path
// inside the process's root. Sets *on_fuse when the door refused it for a FUSE mount.
target_files::ScopedFd OpenMappedFile(const std::string& proc_root, pid_t pid,
                                      const MemoryMapping& mapping, bool* on_fuse = nullptr) {
  target_files::Rules rules{.max_bytes = target_files::kMaxElfBytes};
  target_files::Opened opened =
      target_files::OpenMappedObject(proc_root, pid, mapping.start, mapping.end, rules);
  if (!opened.ok() && !opened.refusal && !mapping.deleted) {
    opened = target_files::OpenInRoot(absl::StrFormat("%s/%d/root", proc_root, pid), mapping.path, rules);
  }
  if (on_fuse && opened.refusal == target_files::Refusal::kOnFuse) *on_fuse = true;
  return std::move(opened.fd);
}

// Run-time address minus ELF address for a position-independent object, from any of its
// mappings whose file offset lies in a loaded segment.
std::optional<uint64_t> LoadBias(const symbolize::ElfInfo& info,
                                 const std::vector<MemoryMapping>& maps, const std::string& path) {
  for (const MemoryMapping& mapping : maps) {
    if (mapping.path != path) continue;
    std::optional<uint64_t> vaddr = symbolize::FileOffsetToVaddr(info, mapping.offset);
    if (vaddr.has_value()) return mapping.start - *vaddr;
  }
  return std::nullopt;
}

}  // namespace

std::string PythonSeriesFromFilename(const std::string& path) {
  std::string_view name(path);
  if (size_t slash = name.rfind('/'); slash != std::string_view::npos) {
    name = name.substr(slash + 1);
  }
  size_t at = name.find("python");
  if (at == std::string_view::npos) return "";
  std::string_view rest = name.substr(at + 6);
  size_t digits = 0;
  int dots = 0;
  while (digits < rest.size() &&
         (std::isdigit(static_cast<unsigned char>(rest[digits])) || rest[digits] == '.')) {
    if (rest[digits] == '.') {
      if (dots == 1) break;
      ++dots;
    }
    ++digits;
  }
  std::string_view series = rest.substr(0, digits);
  if (dots != 1 || series.ends_with(".")) return "";
  return std::string(series);
}

absl::StatusOr<InterpreterSymbols> LocateInterpreter(pid_t pid, const std::string& proc_root) {
  const std::string proc_dir = absl::StrFormat("%s/%d", proc_root, pid);
  absl::StatusOr<std::vector<MemoryMapping>> maps = symbolize::ReadProcMaps(proc_root, pid);
  if (!maps.ok()) {
    // The process exists but its maps are closed to us: the same ptrace check that
    // process_vm_readv would fail.
    struct stat st;
    if (stat(proc_dir.c_str(), &st) == 0) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "cannot read %s/maps (needs ptrace permission over pid %d: root or CAP_SYS_PTRACE)",
          proc_dir, pid));
    }
    return absl::NotFoundError(absl::StrFormat("process %d: %s", pid, maps.status().message()));
  }
  const std::string exe = ExecutablePath(proc_dir);

  // The executable first (Debian's python3.11 defines _PyRuntime itself), then any libpython.
  std::vector<const MemoryMapping*> candidates;
  absl::flat_hash_set<std::string> seen;
  for (bool want_exe : {true, false}) {
    for (const MemoryMapping& mapping : *maps) {
      if (!mapping.IsFile() || seen.contains(mapping.path)) continue;
      bool is_exe = !exe.empty() && mapping.path == exe;
      if (want_exe ? is_exe : IsLibpython(mapping.ModuleName())) {
        seen.insert(mapping.path);
        candidates.push_back(&mapping);
      }
    }
  }

  bool on_fuse = false;
  for (const MemoryMapping* candidate : candidates) {
    target_files::ScopedFd fd = OpenMappedFile(proc_root, pid, *candidate, &on_fuse);
    if (!fd.valid()) continue;
    std::vector<std::optional<uint64_t>> symbols = symbolize::LookupSymbols(fd.get(), kSymbolNames);
    if (!symbols[kRuntime].has_value()) continue;
    std::optional<symbolize::ElfInfo> info = symbolize::ReadElfInfo(fd.get());
    if (!info.has_value()) continue;
    InterpreterSymbols found;
    if (info->position_independent) {
      std::optional<uint64_t> bias = LoadBias(*info, *maps, candidate->path);
      if (!bias.has_value()) continue;
      found.load_bias = *bias;
    }
    found.path = candidate->path;
    found.runtime = *symbols[kRuntime];
    found.version = symbols[kVersion];
    found.code_type = symbols[kCodeType];
    found.unicode_type = symbols[kUnicodeType];
    found.bytes_type = symbols[kBytesType];
    found.long_type = symbols[kLongType];
    found.debug_build = symbols[kRefTotal].has_value() || symbols[kNegativeRefcount].has_value();
    found.series_from_name = PythonSeriesFromFilename(candidate->path);
    found.free_threaded = IsFreeThreadedName(candidate->path, found.series_from_name);
    return found;
  }
  if (on_fuse) {
    return absl::UnavailableError(absl::StrFormat(
        "interpreter on a FUSE mount, not read (its daemon may never answer): pid %d, %s", pid,
        exe.empty() ? "its executable" : exe));
  }
  return absl::NotFoundError(
      absl::StrFormat("process %d is not CPython: no _PyRuntime in %s or a mapped libpython", pid,
                      exe.empty() ? "its executable" : exe));
}

std::optional<uint64_t> LocateAsyncioDebug(pid_t pid, const std::string& proc_root) {
  absl::StatusOr<std::vector<MemoryMapping>> maps = symbolize::ReadProcMaps(proc_root, pid);
  if (!maps.ok()) return std::nullopt;
  for (const MemoryMapping& mapping : *maps) {
    // _asyncio.cpython-314-x86_64-linux-gnu.so (or -314d-, -314t-); its first mapping.
    if (!mapping.IsFile() || !mapping.ModuleName().starts_with("_asyncio.") ||
        mapping.offset != 0) {
      continue;
    }
    target_files::ScopedFd fd = OpenMappedFile(proc_root, pid, mapping);
    if (!fd.valid()) continue;
    std::optional<symbolize::SectionSpan> section =
        symbolize::FindSection(fd.get(), ".AsyncioDebug");
    std::optional<symbolize::ElfInfo> info = symbolize::ReadElfInfo(fd.get());
    if (!section.has_value() || !info.has_value()) continue;
    uint64_t bias = 0;
    if (info->position_independent) {
      std::optional<uint64_t> found = LoadBias(*info, *maps, mapping.path);
      if (!found.has_value()) continue;
      bias = *found;
    }
    return section->address + bias;
  }
  return std::nullopt;
}

}  // namespace stallscope
