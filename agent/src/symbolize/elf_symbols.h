// Reading what symbolization needs from an ELF file with libelf: load segments (to turn a file
// offset into a virtual address), build-id and .gnu_debuglink (to find debug files), and the
// function symbols. Corrupt or truncated files give nullopt or fewer symbols, never a crash.
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_ELF_SYMBOLS_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_ELF_SYMBOLS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stallscope::symbolize {

struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t offset = 0;
  uint64_t file_size = 0;
};

struct ElfInfo {
  bool position_independent = false;  // ET_DYN (PIE or shared object) rather than ET_EXEC
  std::vector<LoadSegment> loads;     // PT_LOAD program headers
  std::string build_id;               // raw bytes of the NT_GNU_BUILD_ID note, "" if none
  std::string debuglink;              // file name from .gnu_debuglink, "" if none
  uint32_t debuglink_crc = 0;         // CRC-32 of the debug file, from .gnu_debuglink
  bool has_symtab = false;            // a non-empty .symtab is present

  std::string BuildIdHex() const;
};

std::optional<ElfInfo> ReadElfInfo(int fd);

// The virtual address (as in the ELF's symbols) of the byte at `file_offset`. For ET_EXEC
// objects callers use the runtime address directly instead.
std::optional<uint64_t> FileOffsetToVaddr(const ElfInfo& info, uint64_t file_offset);
// The inverse: where in the file the byte loaded at `vaddr` is (uprobes are placed by file
// offset).
std::optional<uint64_t> VaddrToFileOffset(const ElfInfo& info, uint64_t vaddr);

// Function symbols (STT_FUNC, STT_GNU_IFUNC) sorted by address, names kept undemangled in one
// buffer to keep large tables compact.
class SymbolTable {
 public:
  struct Symbol {
    uint64_t address = 0;
    uint64_t size = 0;  // 0 when the ELF does not say
    uint32_t name_offset = 0;
  };
  struct RawSymbol {
    uint64_t address = 0;
    uint64_t size = 0;
    int binding = 0;  // STB_*
    std::string_view name;
  };

  SymbolTable() = default;
  // Sorts and keeps one symbol per address (aliases such as getpid/__getpid share one).
  explicit SymbolTable(std::vector<RawSymbol> raw);

  // The symbol containing `vaddr`: the nearest one at or below it, if its size covers `vaddr`
  // (or it has no size).
  const Symbol* Find(uint64_t vaddr) const;
  std::string_view Name(const Symbol& symbol) const;
  size_t size() const { return symbols_.size(); }
  size_t memory_bytes() const { return symbols_.capacity() * sizeof(Symbol) + names_.capacity(); }

 private:
  std::vector<Symbol> symbols_;
  std::string names_;  // NUL-separated
};

// Function symbols from .symtab, else (when allowed) from .dynsym. nullopt when the file is not
// ELF or has no such table.
std::optional<SymbolTable> ReadFunctionSymbols(int fd, bool allow_dynsym);

// The values (st_value) of the named defined symbols of any type, looked up in .dynsym and then
// .symtab: one entry per name, nullopt where the name is not found. Used to find data symbols
// such as CPython's _PyRuntime.
std::vector<std::optional<uint64_t>> LookupSymbols(int fd,
                                                  const std::vector<std::string_view>& names);

// Where a named section is loaded (sh_addr, no bias applied) and its size; nullopt if absent.
// Used for data CPython publishes in its own sections (.AsyncioDebug).
struct SectionSpan {
  uint64_t address = 0;
  uint64_t size = 0;
};
std::optional<SectionSpan> FindSection(int fd, std::string_view name);

// Demangles C++ (Itanium ABI) names; other names come back unchanged.
std::string Demangle(std::string_view name);

}  // namespace stallscope::symbolize

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_ELF_SYMBOLS_H_
