#include "symbolize/elf_symbols.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

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
