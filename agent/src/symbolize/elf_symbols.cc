#include "symbolize/elf_symbols.h"

#include <cxxabi.h>
#include <elf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <tuple>

#include <unistd.h>

#include "target_files/counters.h"

namespace stallscope::symbolize {
namespace {

using target_files::CountShed;
using target_files::Shed;

// Real build-ids are 20 bytes (sha1) or 16 (md5/uuid); anything huge is corruption.
constexpr size_t kMaxBuildIdBytes = 64;

// Caps on what one ELF file may cost: the target controls its files, and a sparse 1.5 GB
// .symtab once took the agent to 2.1 GB. Symbol tables are streamed from the file in chunks
// (never whole through libelf), their string table is read only up to a cap, and only so many
// function symbols are kept; what is past a cap is counted as a "symbols" shed.
constexpr uint64_t kMaxSymbolEntriesScanned = 4'000'000;  // 96 MB of Elf64_Sym, read in chunks
constexpr size_t kMaxFunctionSymbols = 300'000;
constexpr uint64_t kMaxStringTableBytes = 16 << 20;
constexpr uint64_t kMaxNoteBytes = 64 << 10;        // notes and .gnu_debuglink
constexpr uint64_t kMaxSectionNameBytes = 1 << 20;  // .shstrtab
constexpr uint64_t kMaxHeaderCount = 65535;         // sections or program headers
constexpr size_t kSymbolChunk = 4096;               // symbols per pread

template <typename T>
bool ReadAt(int fd, uint64_t offset, T* out) {
  return pread(fd, out, sizeof(T), static_cast<off_t>(offset)) == static_cast<ssize_t>(sizeof(T));
}

// libelf allocates every section and program header at once: with extended numbering a
// hostile file can claim billions. Checked from the raw header before libelf sees the file.
bool HeaderCountsWithinCaps(int fd) {
  unsigned char ident[EI_NIDENT];
  if (!ReadAt(fd, 0, &ident) || memcmp(ident, ELFMAG, SELFMAG) != 0) return true;  // libelf decides
  uint64_t shoff = 0, shnum = 0, phnum = 0, count0 = 0;
  if (ident[EI_CLASS] == ELFCLASS64) {
    Elf64_Ehdr ehdr;
    if (!ReadAt(fd, 0, &ehdr)) return true;
    shoff = ehdr.e_shoff;
    shnum = ehdr.e_shnum;
    phnum = ehdr.e_phnum;
    Elf64_Shdr first;
    if (shoff != 0 && (shnum == 0 || phnum == PN_XNUM) && ReadAt(fd, shoff, &first))
      count0 = std::max<uint64_t>(first.sh_size, first.sh_info);
  } else if (ident[EI_CLASS] == ELFCLASS32) {
    Elf32_Ehdr ehdr;
    if (!ReadAt(fd, 0, &ehdr)) return true;
    shoff = ehdr.e_shoff;
    shnum = ehdr.e_shnum;
    phnum = ehdr.e_phnum;
    Elf32_Shdr first;
    if (shoff != 0 && (shnum == 0 || phnum == PN_XNUM) && ReadAt(fd, shoff, &first))
      count0 = std::max<uint64_t>(first.sh_size, first.sh_info);
  }
  return count0 <= kMaxHeaderCount;
}

// Owns an Elf* read with ELF_C_READ: libelf then reads with pread on demand instead of mmap,
// so a file truncated while we read it gives errors rather than SIGBUS.
class ElfHandle {
 public:
  explicit ElfHandle(int fd) {
    static const bool initialized = elf_version(EV_CURRENT) != EV_NONE;
    if (!initialized) return;
    if (!HeaderCountsWithinCaps(fd)) {
      target_files::CountRefusal(target_files::Refusal::kTooLarge);
      return;
    }
    elf_ = elf_begin(fd, ELF_C_READ, nullptr);
    if (elf_ != nullptr && elf_kind(elf_) != ELF_K_ELF) {
      elf_end(elf_);
      elf_ = nullptr;
    }
  }
  ~ElfHandle() {
    if (elf_ != nullptr) elf_end(elf_);
  }
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;

  Elf* get() const { return elf_; }

 private:
  Elf* elf_ = nullptr;
};

// libelf reads a whole section to look up a name in it: only for a section-name table of
// sane size.
bool SectionNamesWithinCaps(Elf* elf) {
  size_t shstrndx;
  GElf_Shdr shdr;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return false;
  Elf_Scn* scn = elf_getscn(elf, shstrndx);
  return scn != nullptr && gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_size <= kMaxSectionNameBytes;
}

const char* SectionName(Elf* elf, const GElf_Shdr& shdr) {
  size_t shstrndx;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  return elf_strptr(elf, shstrndx, shdr.sh_name);
}

// Returns the NT_GNU_BUILD_ID descriptor in a note data block, "" if none.
std::string FindBuildIdNote(Elf_Data* data) {
  if (data == nullptr || data->d_buf == nullptr) return "";
  const char* bytes = static_cast<const char*>(data->d_buf);
  GElf_Nhdr nhdr;
  size_t name_offset;
  size_t desc_offset;
  size_t offset = 0;
  while ((offset = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset)) > 0) {
    if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
        memcmp(bytes + name_offset, "GNU", 4) == 0 && nhdr.n_descsz > 0 &&
        nhdr.n_descsz <= kMaxBuildIdBytes) {
      return std::string(bytes + desc_offset, nhdr.n_descsz);
    }
  }
  return "";
}

// .gnu_debuglink: a NUL-terminated file name, padding to 4 bytes, then the CRC-32.
void ReadDebuglink(Elf_Data* data, ElfInfo* info) {
  if (data == nullptr || data->d_buf == nullptr || data->d_size == 0) return;
  const char* bytes = static_cast<const char*>(data->d_buf);
  size_t length = strnlen(bytes, data->d_size);
  size_t crc_offset = (length + 1 + 3) & ~size_t{3};
  if (length == 0 || crc_offset + 4 > data->d_size) return;  // corrupt
  info->debuglink.assign(bytes, length);
  memcpy(&info->debuglink_crc, bytes + crc_offset, 4);
}

void ReadSections(Elf* elf, ElfInfo* info) {
  const bool names = SectionNamesWithinCaps(elf);
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if (shdr.sh_type == SHT_SYMTAB && shdr.sh_size > 0) info->has_symtab = true;
    // elf_getdata reads a whole section into memory: only small ones.
    if (shdr.sh_size > kMaxNoteBytes) continue;
    if (shdr.sh_type == SHT_NOTE && info->build_id.empty()) {
      info->build_id = FindBuildIdNote(elf_getdata(scn, nullptr));
    }
    if (names && shdr.sh_type == SHT_PROGBITS && info->debuglink.empty()) {
      const char* name = SectionName(elf, shdr);
      if (name != nullptr && strcmp(name, ".gnu_debuglink") == 0) {
        ReadDebuglink(elf_getdata(scn, nullptr), info);
      }
    }
  }
}

void ReadProgramHeaders(Elf* elf, ElfInfo* info) {
  size_t count;
  if (elf_getphdrnum(elf, &count) != 0) return;
  for (size_t i = 0; i < count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) continue;
    if (phdr.p_type == PT_LOAD) {
      info->loads.push_back({.vaddr = phdr.p_vaddr, .offset = phdr.p_offset,
                             .file_size = phdr.p_filesz});
    } else if (phdr.p_type == PT_NOTE && info->build_id.empty() && phdr.p_filesz <= kMaxNoteBytes) {
      // Files without section headers (some stripped objects) still have PT_NOTE.
      Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(phdr.p_offset),
                                            phdr.p_filesz,
                                            phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
      info->build_id = FindBuildIdNote(data);
    }
  }
}

Elf_Scn* FindSymbolSection(Elf* elf, Elf64_Word type) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == type && shdr.sh_size > 0) {
      return scn;
    }
  }
  return nullptr;
}

// A symbol table's string table, read whole when within the cap. False (nothing read) otherwise.
bool ReadStringTable(int fd, Elf* elf, size_t index, std::string* out) {
  Elf_Scn* scn = elf_getscn(elf, index);
  GElf_Shdr shdr;
  if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_STRTAB ||
      (shdr.sh_flags & SHF_COMPRESSED) != 0)
    return false;
  if (shdr.sh_size > kMaxStringTableBytes) {
    CountShed(Shed::kSymbols);
    return false;
  }
  out->resize(shdr.sh_size);
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = pread(fd, out->data() + done, out->size() - done, static_cast<off_t>(shdr.sh_offset + done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  return true;
}

template <typename Sym>
GElf_Sym Widen(const Sym& s) {
  GElf_Sym g{};
  g.st_name = s.st_name;
  g.st_info = s.st_info;
  g.st_other = s.st_other;
  g.st_shndx = s.st_shndx;
  g.st_value = s.st_value;
  g.st_size = s.st_size;
  return g;
}

// Calls visit(sym, name) for the symbols of the table `shdr` (in `strtab`), read from the file
// kSymbolChunk at a time, at most kMaxSymbolEntriesScanned; stops early when visit returns
// false. Only tables in this host's byte order (a foreign one never runs here).
template <typename Visit>
bool ForEachSymbol(int fd, Elf* elf, const GElf_Shdr& shdr, const std::string& strtab, Visit visit) {
  const char* ident = elf_getident(elf, nullptr);
  constexpr int kNative = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
  if (ident == nullptr || ident[EI_DATA] != kNative || (shdr.sh_flags & SHF_COMPRESSED) != 0) return false;
  const bool wide = gelf_getclass(elf) == ELFCLASS64;
  const size_t entry_size = wide ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
  uint64_t count = shdr.sh_size / entry_size;
  if (count > kMaxSymbolEntriesScanned) {
    CountShed(Shed::kSymbols, count - kMaxSymbolEntriesScanned);
    count = kMaxSymbolEntriesScanned;
  }
  std::vector<char> chunk(kSymbolChunk * entry_size);
  for (uint64_t i = 0; i < count;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(count - i, kSymbolChunk)) * entry_size;
    ssize_t got = pread(fd, chunk.data(), want, static_cast<off_t>(shdr.sh_offset + i * entry_size));
    if (got < static_cast<ssize_t>(entry_size)) break;
    size_t whole = static_cast<size_t>(got) / entry_size;
    for (size_t j = 0; j < whole; ++j) {
      GElf_Sym sym;
      if (wide) {
        Elf64_Sym raw;
        memcpy(&raw, chunk.data() + j * entry_size, sizeof(raw));
        sym = Widen(raw);
      } else {
        Elf32_Sym raw;
        memcpy(&raw, chunk.data() + j * entry_size, sizeof(raw));
        sym = Widen(raw);
      }
      std::string_view name;
      if (sym.st_name < strtab.size()) {
        const char* start = strtab.data() + sym.st_name;
        name = std::string_view(start, strnlen(start, strtab.size() - sym.st_name));
      }
      if (!visit(sym, name)) return true;
    }
    i += whole;
  }
  return true;
}

int LeadingUnderscores(std::string_view name) {
  return static_cast<int>(std::min(name.find_first_not_of('_'), name.size()));
}

int BindingRank(int binding) {
  if (binding == STB_GLOBAL) return 0;
  if (binding == STB_WEAK) return 1;
  return 2;
}

}  // namespace

std::string ElfInfo::BuildIdHex() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(build_id.size() * 2);
  for (unsigned char byte : build_id) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

std::optional<ElfInfo> ReadElfInfo(int fd) {
  ElfHandle elf(fd);
  if (elf.get() == nullptr) return std::nullopt;
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) return std::nullopt;
  if (ehdr.e_type != ET_DYN && ehdr.e_type != ET_EXEC) return std::nullopt;
  ElfInfo info;
  info.position_independent = ehdr.e_type == ET_DYN;
  ReadSections(elf.get(), &info);
  ReadProgramHeaders(elf.get(), &info);
  return info;
}

std::optional<uint64_t> FileOffsetToVaddr(const ElfInfo& info, uint64_t file_offset) {
  for (const LoadSegment& load : info.loads) {
    if (file_offset >= load.offset && file_offset - load.offset < load.file_size) {
      return load.vaddr + (file_offset - load.offset);
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> VaddrToFileOffset(const ElfInfo& info, uint64_t vaddr) {
  for (const LoadSegment& load : info.loads) {
    if (vaddr >= load.vaddr && vaddr - load.vaddr < load.file_size) {
      return load.offset + (vaddr - load.vaddr);
    }
  }
  return std::nullopt;
}

SymbolTable::SymbolTable(std::vector<RawSymbol> raw) {
  // Among aliases, prefer one with a size, then the public spelling (getpid over __getpid),
  // then global over weak over local; the name breaks ties so results are stable.
  auto rank = [](const RawSymbol& s) {
    return std::make_tuple(s.address, s.size == 0, LeadingUnderscores(s.name),
                           BindingRank(s.binding), s.name);
  };
  std::sort(raw.begin(), raw.end(),
            [&](const RawSymbol& a, const RawSymbol& b) { return rank(a) < rank(b); });
  symbols_.reserve(raw.size());
  for (const RawSymbol& s : raw) {
    if (!symbols_.empty() && symbols_.back().address == s.address) continue;
    if (names_.size() + s.name.size() + 1 > std::numeric_limits<uint32_t>::max()) break;
    symbols_.push_back({.address = s.address, .size = s.size,
                        .name_offset = static_cast<uint32_t>(names_.size())});
    names_.append(s.name);
    names_.push_back('\0');
  }
  symbols_.shrink_to_fit();
  names_.shrink_to_fit();
}

const SymbolTable::Symbol* SymbolTable::Find(uint64_t vaddr) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                             [](uint64_t v, const Symbol& s) { return v < s.address; });
  if (it == symbols_.begin()) return nullptr;
  const Symbol& symbol = *std::prev(it);
  if (symbol.size != 0 && vaddr - symbol.address >= symbol.size) return nullptr;
  return &symbol;
}

std::string_view SymbolTable::Name(const Symbol& symbol) const {
  return std::string_view(names_.c_str() + symbol.name_offset);
}

std::optional<SymbolTable> ReadFunctionSymbols(int fd, bool allow_dynsym) {
  ElfHandle elf(fd);
  if (elf.get() == nullptr) return std::nullopt;
  for (Elf64_Word type : {SHT_SYMTAB, SHT_DYNSYM}) {
    if (type == SHT_DYNSYM && !allow_dynsym) break;
    Elf_Scn* scn = FindSymbolSection(elf.get(), type);
    GElf_Shdr shdr;
    std::string strtab;
    if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr ||
        !ReadStringTable(fd, elf.get(), shdr.sh_link, &strtab))
      continue;  // a .symtab past the caps: fall back to .dynsym
    std::vector<SymbolTable::RawSymbol> raw;
    uint64_t shed = 0;
    bool read = ForEachSymbol(fd, elf.get(), shdr, strtab, [&](const GElf_Sym& sym, std::string_view name) {
      int kind = GELF_ST_TYPE(sym.st_info);
      if ((kind != STT_FUNC && kind != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
          sym.st_value == 0 || name.empty())
        return true;
      if (raw.size() >= kMaxFunctionSymbols) {
        ++shed;
        return true;
      }
      // .symtab names carry the symbol version ("clock_nanosleep@@GLIBC_2.17"); report the
      // function name people know.
      if (size_t at = name.find('@'); at != std::string_view::npos && at > 0) name = name.substr(0, at);
      raw.push_back({.address = sym.st_value, .size = sym.st_size,
                     .binding = GELF_ST_BIND(sym.st_info), .name = name});
      return true;
    });
    if (shed > 0) CountShed(Shed::kSymbols, shed);
    if (read) return SymbolTable(std::move(raw));  // names point into strtab, alive until here
  }
  return std::nullopt;
}

std::vector<std::optional<uint64_t>> LookupSymbols(int fd,
                                                  const std::vector<std::string_view>& names) {
  std::vector<std::optional<uint64_t>> values(names.size());
  ElfHandle elf(fd);
  if (elf.get() == nullptr) return values;
  size_t remaining = names.size();
  for (Elf64_Word type : {SHT_DYNSYM, SHT_SYMTAB}) {
    Elf_Scn* scn = FindSymbolSection(elf.get(), type);
    GElf_Shdr shdr;
    std::string strtab;
    if (remaining == 0 || scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr ||
        !ReadStringTable(fd, elf.get(), shdr.sh_link, &strtab))
      continue;
    ForEachSymbol(fd, elf.get(), shdr, strtab, [&](const GElf_Sym& sym, std::string_view name) {
      if (sym.st_shndx == SHN_UNDEF || sym.st_name == 0 || name.empty()) return true;
      for (size_t n = 0; n < names.size(); ++n) {
        if (!values[n].has_value() && names[n] == name) {
          values[n] = sym.st_value;
          --remaining;
        }
      }
      return remaining > 0;
    });
  }
  return values;
}

std::optional<SectionSpan> FindSection(int fd, std::string_view name) {
  ElfHandle elf(fd);
  if (elf.get() == nullptr) return std::nullopt;
  size_t names_index = 0;
  if (elf_getshdrstrndx(elf.get(), &names_index) != 0) return std::nullopt;
  for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr;
       scn = elf_nextscn(elf.get(), scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* section = elf_strptr(elf.get(), names_index, shdr.sh_name);
    if (section != nullptr && name == section) {
      return SectionSpan{.address = shdr.sh_addr, .size = shdr.sh_size};
    }
  }
  return std::nullopt;
}

std::string Demangle(std::string_view name) {
  if (!name.starts_with("_Z")) return std::string(name);
  std::string mangled(name);
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) {
    free(demangled);
    return mangled;
  }
  std::string result(demangled);
  free(demangled);
  return result;
}

}  // namespace stallscope::symbolize
