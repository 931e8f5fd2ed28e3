// Not thread-safe: callers symbolize from one thread (or serialize calls).
#include "symbolize/symbolizer.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "symbolize/debug_file.h"
#include "symbolize/elf_symbols.h"
#include "symbolize/perf_map.h"
#include "symbolize/proc_maps.h"
#include "symbolize/symbol_cache.h"
#include "target_files/target_files.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

using symbolize::ElfInfo;
using symbolize::MemoryMapping;
using target_files::FileIdentity;
using target_files::ScopedFd;
using symbolize::SymbolTable;

// Processes whose exit was never reported through ForgetProcess must not grow the cache forever.
constexpr size_t kMaxCachedProcesses = 1024;
// JIT perf maps of all processes together (each is capped by PerfMap::Limits): beyond this the
// least recently used processes' maps are dropped (re-read when needed again).
constexpr size_t kMaxTotalPerfMapBytes = 24 << 20;

// One ELF object as mapped by one process.
struct MappedObject {
  std::string path;  // inside the process's root
  uint64_t start = 0, end = 0;  // the mapping it was opened through (map_files)
  ElfInfo info;
  FileIdentity identity;
  std::string cache_key;  // of its symbol table
};

struct CachedMapping {
  MemoryMapping mapping;
  bool resolved = false;
  std::shared_ptr<const MappedObject> object;  // null: no symbols to be had
};

struct ProcessEntry {
  std::vector<CachedMapping> mappings;  // executable mappings, sorted by start
  uint64_t last_used = 0;
  std::chrono::steady_clock::time_point read_at;  // when the maps were last read
  // JIT symbols: loaded on the first anonymous-memory address, reloaded when the file grows.
  std::optional<symbolize::PerfMap> perf_map;
  uint64_t perf_map_size = 0;
  bool perf_map_checked = false;
  std::chrono::steady_clock::time_point perf_map_checked_at;
};

// The JIT function at `address` from the process's perf map, if it has one. The map is opened
// through the door (refusals counted there) at most once per `recheck` and re-read when it grew.
const symbolize::PerfMap::Entry* FindJitSymbol(ProcessEntry& entry, pid_t pid,
                                               const std::string& proc_root, uint64_t address,
                                               std::chrono::milliseconds recheck) {
  auto now = std::chrono::steady_clock::now();
  if (entry.perf_map_checked && now - entry.perf_map_checked_at < recheck) {
    return entry.perf_map ? entry.perf_map->Find(address) : nullptr;
  }
  entry.perf_map_checked = true;
  entry.perf_map_checked_at = now;
  target_files::Opened opened = symbolize::OpenPerfMap(pid, proc_root);
  if (!opened.ok()) {
    entry.perf_map.reset();
    return nullptr;
  }
  std::optional<FileIdentity> id = target_files::IdentifyFile(opened.fd.get());
  if (!id) return nullptr;
  if (!entry.perf_map || id->size != entry.perf_map_size) {
    entry.perf_map.reset();  // the old table's memory is freed before the new one is built
    entry.perf_map = symbolize::PerfMap::Read(opened.fd.get(), symbolize::PerfMap::Limits());
    entry.perf_map_size = id->size;
  }
  return entry.perf_map->Find(address);
}

// Opens a mapped object: through map_files (the very inode mapped), else by its path inside the
// process's root (a mapping gone since, or a test's fake /proc).
ScopedFd OpenObject(const std::string& proc_root, pid_t pid, const std::string& path,
                    uint64_t start, uint64_t end) {
  target_files::Rules rules{.max_bytes = target_files::kMaxElfBytes};
  target_files::Opened opened = target_files::OpenMappedObject(proc_root, pid, start, end, rules);
  if (!opened.ok() && !opened.refusal) {
    opened = target_files::OpenInRoot(absl::StrCat(proc_root, "/", pid, "/root"), path, rules);
  }
  return std::move(opened.fd);
}

bool SameMapping(const MemoryMapping& a, const MemoryMapping& b) {
  return a.start == b.start && a.end == b.end && a.offset == b.offset && a.inode == b.inode &&
         a.deleted == b.deleted && a.path == b.path;
}

CachedMapping* FindMapping(ProcessEntry& entry, uint64_t address) {
  auto it = std::upper_bound(
      entry.mappings.begin(), entry.mappings.end(), address,
      [](uint64_t a, const CachedMapping& m) { return a < m.mapping.start; });
  if (it == entry.mappings.begin()) return nullptr;
  --it;
  return it->mapping.Contains(address) ? &*it : nullptr;
}

// The size next to the build-id keeps a stripped or truncated copy of an object (same build-id)
// from sharing the full copy's table, in either direction.
std::string CacheKey(const std::string& path, const ElfInfo& info, const FileIdentity& id) {
  if (!info.build_id.empty()) return absl::StrCat("build-id:", info.BuildIdHex(), ":", id.size);
  return absl::StrCat("file:", path, ":", id.dev, ":", id.ino, ":", id.size, ":", id.mtime_ns);
}

bool SameFile(const FileIdentity& a, const FileIdentity& b) {
  return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime_ns == b.mtime_ns;
}

}  // namespace

struct Symbolizer::Impl {
  explicit Impl(Options o)
      : options(std::move(o)), tables(options.max_cached_symbols, options.max_cached_symbol_bytes) {}

  std::string RootOf(pid_t pid) const { return absl::StrCat(options.proc_root, "/", pid, "/root"); }

  // Re-reads the maps, keeping what was resolved for unchanged mappings. Null when the process
  // cannot be read (then any previous entry is left as it was).
  ProcessEntry* Refresh(pid_t pid);
  std::shared_ptr<const MappedObject> Resolve(pid_t pid, const MemoryMapping& mapping) const;
  std::shared_ptr<const SymbolTable> LoadTable(pid_t pid, const MappedObject& object);
  void EvictProcesses(pid_t keep);
  void BoundPerfMaps(pid_t keep);

  Options options;
  symbolize::SymbolTableCache tables;
  absl::flat_hash_map<pid_t, ProcessEntry> processes;
  uint64_t clock = 0;
};

ProcessEntry* Symbolizer::Impl::Refresh(pid_t pid) {
  absl::StatusOr<std::vector<MemoryMapping>> maps = symbolize::ReadProcMaps(options.proc_root, pid);
  if (!maps.ok()) return nullptr;
  ProcessEntry& entry = processes[pid];
  entry.read_at = std::chrono::steady_clock::now();
  std::vector<CachedMapping> old = std::move(entry.mappings);
  entry.mappings.clear();
  // Both lists are sorted by start, so one forward pass pairs up unchanged mappings.
  auto same = old.begin();
  for (MemoryMapping& mapping : *maps) {
    if (!mapping.executable) continue;
    CachedMapping cached;
    cached.mapping = std::move(mapping);
    while (same != old.end() && same->mapping.start < cached.mapping.start) ++same;
    if (same != old.end() && SameMapping(same->mapping, cached.mapping)) {
      cached.resolved = same->resolved;
      cached.object = same->object;
    }
    entry.mappings.push_back(std::move(cached));
  }
  EvictProcesses(pid);
  return &processes[pid];
}

void Symbolizer::Impl::BoundPerfMaps(pid_t keep) {
  while (true) {
    size_t total = 0;
    ProcessEntry* oldest = nullptr;
    for (auto& [pid, entry] : processes) {
      if (!entry.perf_map) continue;
      total += entry.perf_map->memory_bytes();
      if (pid != keep && (oldest == nullptr || entry.last_used < oldest->last_used)) oldest = &entry;
    }
    if (total <= kMaxTotalPerfMapBytes || oldest == nullptr) return;
    oldest->perf_map.reset();
    oldest->perf_map_checked = false;
    target_files::CountShed(target_files::Shed::kPerfMapEntries);
  }
}

void Symbolizer::Impl::EvictProcesses(pid_t keep) {
  while (processes.size() > kMaxCachedProcesses) {
    auto oldest = processes.end();
    for (auto it = processes.begin(); it != processes.end(); ++it) {
      if (it->first != keep && (oldest == processes.end() ||
                                it->second.last_used < oldest->second.last_used)) {
        oldest = it;
      }
    }
    if (oldest == processes.end()) return;
    processes.erase(oldest);
  }
}

std::shared_ptr<const MappedObject> Symbolizer::Impl::Resolve(
    pid_t pid, const MemoryMapping& mapping) const {
  // A deleted file's path may now name another file (or none): its symbols are unknowable here.
  if (!mapping.IsFile() || mapping.deleted) return nullptr;
  ScopedFd fd = OpenObject(options.proc_root, pid, mapping.path, mapping.start, mapping.end);
  if (!fd.valid()) return nullptr;
  std::optional<ElfInfo> info = symbolize::ReadElfInfo(fd.get());
  std::optional<FileIdentity> identity = target_files::IdentifyFile(fd.get());
  if (!info || !identity) return nullptr;
  auto object = std::make_shared<MappedObject>();
  object->path = mapping.path;
  object->start = mapping.start;
  object->end = mapping.end;
  object->cache_key = CacheKey(mapping.path, *info, *identity);
  object->info = std::move(*info);
  object->identity = *identity;
  return object;
}

std::shared_ptr<const SymbolTable> Symbolizer::Impl::LoadTable(pid_t pid,
                                                               const MappedObject& object) {
  if (auto table = tables.Get(object.cache_key)) return table;
  std::string root = RootOf(pid);
  ScopedFd fd = OpenObject(options.proc_root, pid, object.path, object.start, object.end);
  std::optional<FileIdentity> identity;
  if (fd.valid()) identity = target_files::IdentifyFile(fd.get());
  // Not cached on failure: the process may be gone while the object lives on elsewhere.
  if (!identity || !SameFile(*identity, object.identity)) return nullptr;
  std::optional<SymbolTable> symbols;
  ScopedFd debug = symbolize::FindDebugFile({.target_root = root,
                                             .host_debug_root = options.debug_root},
                                            object.path, object.info);
  if (debug.valid()) symbols = symbolize::ReadFunctionSymbols(debug.get(), false);
  if (!symbols) symbols = symbolize::ReadFunctionSymbols(fd.get(), true);
  // An object without symbols is cached too (empty) so it is not re-read for every address.
  auto table = std::make_shared<const SymbolTable>(symbols ? std::move(*symbols) : SymbolTable());
  tables.Put(object.cache_key, table);
  return table;
}

Symbolizer::Symbolizer() : Symbolizer(Options()) {}

Symbolizer::Symbolizer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Symbolizer::~Symbolizer() = default;

std::vector<v1::Frame> Symbolizer::Symbolize(pid_t pid, const std::vector<uint64_t>& addresses) {
  std::vector<v1::Frame> frames(addresses.size());
  for (size_t i = 0; i < addresses.size(); ++i) frames[i].set_address(addresses[i]);
  try {
    auto it = impl_->processes.find(pid);
    ProcessEntry* entry = it != impl_->processes.end() ? &it->second : nullptr;
    bool refreshed = false;
    if (entry == nullptr) {
      entry = impl_->Refresh(pid);
      refreshed = true;
    }
    if (entry == nullptr) return frames;
    entry->last_used = ++impl_->clock;
    // Tables used by this call stay alive even if a tiny cache bound evicts them meanwhile.
    absl::flat_hash_map<std::string, std::shared_ptr<const SymbolTable>> pinned;
    for (v1::Frame& frame : frames) {
      uint64_t address = frame.address();
      CachedMapping* cached = FindMapping(*entry, address);
      if (cached == nullptr && !refreshed &&
          std::chrono::steady_clock::now() - entry->read_at >= impl_->options.maps_reread_interval) {
        // New mappings (dlopen, JIT) since the maps were read: re-read once per call.
        refreshed = true;
        if (ProcessEntry* fresh = impl_->Refresh(pid)) entry = fresh;
        cached = FindMapping(*entry, address);
      }
      if (cached == nullptr) continue;
      if (cached->mapping.path.empty()) {
        // Anonymous executable memory is JIT code: named only by the JIT's perf map.
        bool had_map = entry->perf_map.has_value();
        uint64_t size_before = entry->perf_map_size;
        const auto* jit = FindJitSymbol(*entry, pid, impl_->options.proc_root, address,
                                        impl_->options.maps_reread_interval);
        // A map (re)loaded: keep all processes' maps together under their bound.
        if (entry->perf_map && (!had_map || entry->perf_map_size != size_before))
          impl_->BoundPerfMaps(pid);
        if (jit != nullptr) {
          frame.set_function(SanitizeTargetString(entry->perf_map->Name(*jit)));
          frame.set_module("[jit]");
          frame.set_offset(address - jit->start);
        }
        continue;
      }
      frame.set_module(SanitizeTargetString(cached->mapping.ModuleName()));
      if (!cached->resolved) {
        cached->object = impl_->Resolve(pid, cached->mapping);
        cached->resolved = true;
      }
      if (cached->object == nullptr) continue;
      const MappedObject& object = *cached->object;
      auto [slot, first_use] = pinned.try_emplace(object.cache_key);
      if (first_use) slot->second = impl_->LoadTable(pid, object);  // null stays null this call
      const SymbolTable* table = slot->second.get();
      if (table == nullptr) continue;
      // Through the file offset for every object: ET_DYN ones load anywhere, and ET_EXEC ones
      // sit at their link addresses except when the process maps their text again elsewhere
      // (node maps part of its own text high in memory; read as link addresses, its builtins
      // there were named "_fini" + 140 GB).
      std::optional<uint64_t> vaddr = symbolize::FileOffsetToVaddr(
          object.info, address - cached->mapping.start + cached->mapping.offset);
      if (!vaddr && !object.info.position_independent) vaddr = address;
      if (!vaddr) continue;
      const SymbolTable::Symbol* symbol = table->Find(*vaddr);
      if (symbol == nullptr) continue;
      // Symbol and perf-map names are the target's text (any bytes but NUL): safe text.
      frame.set_function(SanitizeTargetString(symbolize::Demangle(table->Name(*symbol))));
      frame.set_offset(*vaddr - symbol->address);
    }
  } catch (const std::exception&) {
    // Out of memory or similar: what was resolved so far is still right.
  }
  return frames;
}

void Symbolizer::ForgetProcess(pid_t pid) { impl_->processes.erase(pid); }

}  // namespace stallscope
