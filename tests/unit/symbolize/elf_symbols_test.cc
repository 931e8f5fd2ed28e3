#include "symbolize/elf_symbols.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include <gtest/gtest.h>

#include "target_files/target_files.h"

// Extern and not inlined so it has its own .symtab entry in the test binary.
namespace stallscope_elf_symbols_test {
__attribute__((noinline)) int ElfTestTarget(int x) {
  asm volatile("" : "+r"(x));
  return x * 7 + 3;
}
}  // namespace stallscope_elf_symbols_test

namespace stallscope::symbolize {
namespace {

using target_files::ScopedFd;

ScopedFd OpenFile(const std::string& path) {
  return ScopedFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

// Load bias of the object containing `address`, from the dynamic linker (not our code).
uint64_t LoadBias(const void* address) {
  Dl_info info;
  link_map* map = nullptr;
  if (dladdr1(address, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0) return 0;
  return map != nullptr ? map->l_addr : 0;
}

std::string LibcPath() {
  Dl_info info;
  void* getpid_address = dlsym(RTLD_DEFAULT, "getpid");
  if (getpid_address == nullptr || dladdr(getpid_address, &info) == 0) return "";
  return info.dli_fname;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

ScopedFd MemFdWith(const std::string& bytes) {
  ScopedFd fd(memfd_create("elf", MFD_CLOEXEC));
  if (!fd.valid()) return fd;
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = write(fd.get(), bytes.data() + written, bytes.size() - written);
    if (n <= 0) return ScopedFd();
    written += static_cast<size_t>(n);
  }
  return fd;
}

TEST(ElfSymbols, ReadsInfoOfOwnExecutable) {
  ScopedFd fd = OpenFile("/proc/self/exe");
  ASSERT_TRUE(fd.valid());
  std::optional<ElfInfo> info = ReadElfInfo(fd.get());
  ASSERT_TRUE(info.has_value());
  EXPECT_FALSE(info->loads.empty());
  EXPECT_TRUE(info->has_symtab);
  EXPECT_GE(info->build_id.size(), 16u);
  EXPECT_EQ(info->BuildIdHex().size(), info->build_id.size() * 2);
}

TEST(ElfSymbols, FindsOwnFunctionInSymtab) {
  ScopedFd fd = OpenFile("/proc/self/exe");
  ASSERT_TRUE(fd.valid());
  std::optional<SymbolTable> table = ReadFunctionSymbols(fd.get(), /*allow_dynsym=*/false);
  ASSERT_TRUE(table.has_value());
  auto* target = &stallscope_elf_symbols_test::ElfTestTarget;
  uint64_t vaddr = reinterpret_cast<uint64_t>(target) - LoadBias(reinterpret_cast<void*>(target));
  const SymbolTable::Symbol* symbol = table->Find(vaddr);
  ASSERT_NE(symbol, nullptr);
  EXPECT_EQ(symbol->address, vaddr);
  EXPECT_GT(symbol->size, 0u);
  EXPECT_EQ(Demangle(table->Name(*symbol)), "stallscope_elf_symbols_test::ElfTestTarget(int)");
  const SymbolTable::Symbol* inside = table->Find(vaddr + 1);
  ASSERT_NE(inside, nullptr);
  EXPECT_EQ(inside->address, vaddr);
}

TEST(ElfSymbols, LibcDynsymNamesThePublicAlias) {
  std::string libc = LibcPath();
  ASSERT_FALSE(libc.empty());
  ScopedFd fd = OpenFile(libc);
  ASSERT_TRUE(fd.valid());
  std::optional<SymbolTable> table = ReadFunctionSymbols(fd.get(), /*allow_dynsym=*/true);
  ASSERT_TRUE(table.has_value());
  void* getpid_address = dlsym(RTLD_DEFAULT, "getpid");
  uint64_t vaddr = reinterpret_cast<uint64_t>(getpid_address) - LoadBias(getpid_address);
  const SymbolTable::Symbol* symbol = table->Find(vaddr);
  ASSERT_NE(symbol, nullptr);
  // glibc defines getpid as a weak alias of the global __getpid; the public name wins.
  EXPECT_EQ(table->Name(*symbol), "getpid");
  EXPECT_EQ(symbol->address, vaddr);
}

TEST(ElfSymbols, FileOffsetToVaddrUsesTheContainingLoadSegment) {
  ElfInfo info;
  info.position_independent = true;
  info.loads = {{.vaddr = 0, .offset = 0, .file_size = 0x1000},
                {.vaddr = 0x2000, .offset = 0x1000, .file_size = 0x3000},
                {.vaddr = 0x6100, .offset = 0x4100, .file_size = 0x100}};
  EXPECT_EQ(FileOffsetToVaddr(info, 0x10), 0x10u);
  EXPECT_EQ(FileOffsetToVaddr(info, 0x1010), 0x2010u);
  EXPECT_EQ(FileOffsetToVaddr(info, 0x3fff), 0x4fffu);
  EXPECT_EQ(FileOffsetToVaddr(info, 0x4180), 0x6180u);
  EXPECT_FALSE(FileOffsetToVaddr(info, 0x4000).has_value());
  EXPECT_FALSE(FileOffsetToVaddr(info, 0x9000).has_value());
}

TEST(ElfSymbols, VaddrToFileOffsetInvertsIt) {
  ElfInfo info;
  info.loads = {{.vaddr = 0, .offset = 0, .file_size = 0x1000},
                {.vaddr = 0x2000, .offset = 0x1000, .file_size = 0x3000}};
  EXPECT_EQ(VaddrToFileOffset(info, 0x10), 0x10u);
  EXPECT_EQ(VaddrToFileOffset(info, 0x2010), 0x1010u);
  EXPECT_EQ(VaddrToFileOffset(info, 0x4fff), 0x3fffu);
  EXPECT_FALSE(VaddrToFileOffset(info, 0x1800).has_value());  // between segments
  EXPECT_FALSE(VaddrToFileOffset(info, 0x5000).has_value());  // past the file's bytes (bss)
  for (uint64_t offset : {0x10ull, 0x1010ull, 0x3fffull})
    EXPECT_EQ(VaddrToFileOffset(info, *FileOffsetToVaddr(info, offset)), offset);
}

TEST(ElfSymbols, SymbolTablePicksAliasesAndRespectsSizes) {
  SymbolTable table({
      {.address = 0x2000, .size = 0x10, .binding = 1 /*STB_GLOBAL*/, .name = "__read"},
      {.address = 0x2000, .size = 0x10, .binding = 2 /*STB_WEAK*/, .name = "read"},
      {.address = 0x1000, .size = 0, .binding = 1, .name = "no_size"},
      {.address = 0x3000, .size = 0, .binding = 0 /*STB_LOCAL*/, .name = "label"},
      {.address = 0x3000, .size = 0x20, .binding = 0, .name = "_sized"},
  });
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.Find(0xfff), nullptr);
  ASSERT_NE(table.Find(0x1000), nullptr);
  EXPECT_EQ(table.Name(*table.Find(0x1800)), "no_size");  // no size: nearest preceding
  EXPECT_EQ(table.Name(*table.Find(0x200f)), "read");
  EXPECT_EQ(table.Find(0x2010), nullptr);  // past the end of read
  EXPECT_EQ(table.Name(*table.Find(0x3000)), "_sized");
  EXPECT_EQ(table.Find(0x3020), nullptr);
  EXPECT_EQ(SymbolTable().Find(0x1000), nullptr);
}

TEST(ElfSymbols, Demangles) {
  EXPECT_EQ(Demangle("_ZN3foo3barEi"), "foo::bar(int)");
  EXPECT_EQ(Demangle("main"), "main");
  EXPECT_EQ(Demangle("_Znot_valid"), "_Znot_valid");
  EXPECT_EQ(Demangle(""), "");
}

TEST(ElfSymbols, RejectsNonElf) {
  ScopedFd fd = MemFdWith("#!/bin/sh\necho not an elf file at all\n");
  ASSERT_TRUE(fd.valid());
  EXPECT_FALSE(ReadElfInfo(fd.get()).has_value());
  EXPECT_FALSE(ReadFunctionSymbols(fd.get(), true).has_value());
  ScopedFd empty = MemFdWith("");
  EXPECT_FALSE(ReadElfInfo(empty.get()).has_value());
  EXPECT_FALSE(ReadFunctionSymbols(empty.get(), true).has_value());
  EXPECT_FALSE(ReadElfInfo(-1).has_value());
}

// Truncated and randomly corrupted copies of libc must never crash the reader.
TEST(ElfSymbols, SurvivesTruncatedAndCorruptFiles) {
  std::string original = ReadAll(LibcPath());
  ASSERT_GT(original.size(), 4096u);
  {
    ScopedFd fd = MemFdWith(original);
    ASSERT_TRUE(ReadElfInfo(fd.get()).has_value());
    ASSERT_TRUE(ReadFunctionSymbols(fd.get(), true).has_value());
  }
  std::mt19937 rng(12345);
  for (int i = 0; i < 40; ++i) {
    size_t size = i < 8 ? static_cast<size_t>(i) * 16 : rng() % original.size();
    ScopedFd fd = MemFdWith(original.substr(0, size));
    ASSERT_TRUE(fd.valid());
    ReadElfInfo(fd.get());
    ReadFunctionSymbols(fd.get(), true);
  }
  for (int i = 0; i < 60; ++i) {
    std::string corrupt = original;
    // Mostly the headers, where a bad value sends readers astray, plus the section headers at
    // the end and anywhere else.
    for (int flip = 0; flip < 24; ++flip) {
      size_t region = rng() % 3;
      size_t position = region == 0   ? rng() % 256
                        : region == 1 ? corrupt.size() - 1 - rng() % 8192
                                      : rng() % corrupt.size();
      corrupt[position] = static_cast<char>(rng());
    }
    ScopedFd fd = MemFdWith(corrupt);
    ASSERT_TRUE(fd.valid());
    std::optional<ElfInfo> info = ReadElfInfo(fd.get());
    std::optional<SymbolTable> table = ReadFunctionSymbols(fd.get(), true);
    if (table) table->Find(0x1000);
    if (info) FileOffsetToVaddr(*info, 0x1000);
  }
}

}  // namespace
}  // namespace stallscope::symbolize

namespace stallscope::symbolize {
namespace {

// A copy of ELF64 `original` in a memfd with two sections appended: a .symtab of
// `symtab_bytes` and a .strtab of `strtab_bytes`, both sparse holes (zero symbols, empty names),
// as a hostile target could ship them. Returns an invalid fd if `original` is not ELF64.
ScopedFd WithSparseSymtab(const std::string& original, uint64_t symtab_bytes, uint64_t strtab_bytes) {
  if (original.size() < sizeof(Elf64_Ehdr) || original[EI_CLASS] != ELFCLASS64) return ScopedFd();
  Elf64_Ehdr ehdr;
  memcpy(&ehdr, original.data(), sizeof(ehdr));
  std::string shdrs = original.substr(ehdr.e_shoff, size_t{ehdr.e_shentsize} * ehdr.e_shnum);
  uint64_t strtab_off = (original.size() + 4095) & ~uint64_t{4095};
  uint64_t symtab_off = strtab_off + ((strtab_bytes + 4095) & ~uint64_t{4095});
  uint64_t shoff = symtab_off + symtab_bytes;
  Elf64_Shdr sym{}, str{};
  sym.sh_type = SHT_SYMTAB;
  sym.sh_offset = symtab_off;
  sym.sh_size = symtab_bytes;
  sym.sh_link = ehdr.e_shnum + 1;
  sym.sh_entsize = sizeof(Elf64_Sym);
  str.sh_type = SHT_STRTAB;
  str.sh_offset = strtab_off;
  str.sh_size = strtab_bytes;
  shdrs.append(reinterpret_cast<const char*>(&sym), sizeof(sym));
  shdrs.append(reinterpret_cast<const char*>(&str), sizeof(str));
  ehdr.e_shoff = shoff;
  ehdr.e_shnum += 2;
  ScopedFd fd = MemFdWith(original);
  if (!fd.valid() || ftruncate(fd.get(), static_cast<off_t>(shoff)) != 0 ||
      pwrite(fd.get(), shdrs.data(), shdrs.size(), static_cast<off_t>(shoff)) != static_cast<ssize_t>(shdrs.size()) ||
      pwrite(fd.get(), &ehdr, sizeof(ehdr), 0) != sizeof(ehdr))
    return ScopedFd();
  return fd;
}

TEST(ElfSymbolCaps, HugeSparseSymtabIsScannedOnlyUpToTheCap) {
  std::string libc = ReadAll(LibcPath());  // .dynsym only: the appended .symtab is the one read
  ScopedFd fd = WithSparseSymtab(libc, 1536ull << 20, 16);
  ASSERT_TRUE(fd.valid());
  uint64_t shed = target_files::ShedCount(target_files::Shed::kSymbols);
  auto start = std::chrono::steady_clock::now();
  std::optional<SymbolTable> table = ReadFunctionSymbols(fd.get(), true);
  ASSERT_TRUE(table.has_value());
  EXPECT_EQ(table->size(), 0u);  // all-zero symbols name nothing
  EXPECT_GT(target_files::ShedCount(target_files::Shed::kSymbols), shed);  // the rest was not scanned
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // A build-id and load segments are still read.
  EXPECT_TRUE(ReadElfInfo(fd.get()).has_value());
}

TEST(ElfSymbolCaps, OversizedStringTableFallsBackToDynsym) {
  std::string libc = ReadAll(LibcPath());
  ScopedFd fd = WithSparseSymtab(libc, 4096, 512ull << 20);
  ASSERT_TRUE(fd.valid());
  uint64_t shed = target_files::ShedCount(target_files::Shed::kSymbols);
  std::optional<SymbolTable> table = ReadFunctionSymbols(fd.get(), true);
  ASSERT_TRUE(table.has_value());
  EXPECT_GT(table->size(), 1000u);  // libc's .dynsym
  EXPECT_EQ(target_files::ShedCount(target_files::Shed::kSymbols), shed + 1);
}

TEST(ElfSymbolCaps, ExtendedSectionCountBombIsRefusedBeforeLibelf) {
  // e_shnum 0 with a first section header claiming a billion sections.
  std::string bytes(4096, '\0');
  Elf64_Ehdr ehdr{};
  memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
  ehdr.e_ident[EI_CLASS] = ELFCLASS64;
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_VERSION] = EV_CURRENT;
  ehdr.e_type = ET_DYN;
  ehdr.e_machine = EM_X86_64;
  ehdr.e_version = EV_CURRENT;
  ehdr.e_ehsize = sizeof(Elf64_Ehdr);
  ehdr.e_shoff = 64;
  ehdr.e_shentsize = sizeof(Elf64_Shdr);
  Elf64_Shdr first{};
  first.sh_size = 1'000'000'000;
  memcpy(bytes.data(), &ehdr, sizeof(ehdr));
  memcpy(bytes.data() + 64, &first, sizeof(first));
  ScopedFd fd = MemFdWith(bytes);
  uint64_t refused = target_files::RefusalCount(target_files::Refusal::kTooLarge);
  EXPECT_FALSE(ReadElfInfo(fd.get()).has_value());
  EXPECT_FALSE(ReadFunctionSymbols(fd.get(), true).has_value());
  EXPECT_EQ(target_files::RefusalCount(target_files::Refusal::kTooLarge), refused + 2);
}

}  // namespace
}  // namespace stallscope::symbolize
