#include "symbolize/symbolizer.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "symbolize/elf_symbols.h"
#include "target_files/target_files.h"
#include "symbolize/proc_maps.h"

extern char** environ;

// Extern and not inlined so the test binary's .symtab has it, at an address of its own.
namespace stallscope_symbolizer_test {
__attribute__((noinline)) int SymbolizerTestTarget(int x) {
  asm volatile("" : "+r"(x));
  return x * 3 + 1;
}
}  // namespace stallscope_symbolizer_test

namespace stallscope {
namespace {

namespace fs = std::filesystem;

constexpr char kTargetName[] = "stallscope_symbolizer_test::SymbolizerTestTarget(int)";
constexpr char kPython[] = "/usr/bin/python3.11";

uint64_t TargetAddress() {
  return reinterpret_cast<uint64_t>(&stallscope_symbolizer_test::SymbolizerTestTarget);
}

uint64_t GetpidAddress() { return reinterpret_cast<uint64_t>(dlsym(RTLD_DEFAULT, "getpid")); }

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "symbolizer_XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& contents) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

// A fake /proc for one process: <proc>/<pid>/maps and its root directory.
struct FakeProc {
  FakeProc(const std::string& dir, pid_t pid)
      : proc_root(dir + "/proc"), root(proc_root + "/" + std::to_string(pid) + "/root") {
    fs::create_directories(root);
  }
  void SetMaps(const std::string& text) const {
    WriteAll(fs::path(root).parent_path().string() + "/maps", text);
  }
  std::string proc_root;
  std::string root;
};

std::string MapsLine(uint64_t start, uint64_t end, uint64_t offset, const std::string& path) {
  char line[256];
  snprintf(line, sizeof(line), "%lx-%lx r-xp %08lx 08:01 4711 ", static_cast<unsigned long>(start),
           static_cast<unsigned long>(end), static_cast<unsigned long>(offset));
  return line + path + "\n";
}

// File offset of a function in the object the dynamic linker loaded it from.
struct FileLocation {
  std::string path;
  uint64_t offset = 0;
};

std::optional<FileLocation> LocateInFile(const void* function) {
  Dl_info info;
  link_map* map = nullptr;
  if (dladdr1(function, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 ||
      map == nullptr) {
    return std::nullopt;
  }
  struct Search {
    uint64_t bias;
    uint64_t vaddr;
    std::optional<uint64_t> offset;
  } search{map->l_addr, reinterpret_cast<uint64_t>(function) - map->l_addr, std::nullopt};
  dl_iterate_phdr(
      [](dl_phdr_info* phdrs, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        if (phdrs->dlpi_addr != s->bias) return 0;
        for (int i = 0; i < phdrs->dlpi_phnum; ++i) {
          const ElfW(Phdr)& p = phdrs->dlpi_phdr[i];
          if (p.p_type == PT_LOAD && s->vaddr >= p.p_vaddr && s->vaddr < p.p_vaddr + p.p_filesz) {
            s->offset = s->vaddr - p.p_vaddr + p.p_offset;
            return 1;
          }
        }
        return 0;
      },
      &search);
  if (!search.offset) return std::nullopt;
  return FileLocation{info.dli_fname, *search.offset};
}

void ExpectAddressOnly(const v1::Frame& frame, uint64_t address) {
  EXPECT_EQ(frame.address(), address);
  EXPECT_EQ(frame.function(), "");
  EXPECT_EQ(frame.offset(), 0u);
  EXPECT_EQ(frame.file(), "");
  EXPECT_EQ(frame.line(), 0u);
}

TEST(Symbolizer, OwnFunctionAndLibc) {
  Symbolizer symbolizer;
  uint64_t target = TargetAddress();
  uint64_t libc_getpid = GetpidAddress();
  ASSERT_NE(libc_getpid, 0u);
  std::vector<v1::Frame> frames =
      symbolizer.Symbolize(getpid(), {target, target + 2, libc_getpid, libc_getpid + 1, 8});
  ASSERT_EQ(frames.size(), 5u);

  EXPECT_EQ(frames[0].function(), kTargetName);
  EXPECT_EQ(frames[0].module(), "unit_tests");
  EXPECT_EQ(frames[0].address(), target);
  EXPECT_EQ(frames[0].offset(), 0u);
  EXPECT_EQ(frames[0].file(), "");
  EXPECT_EQ(frames[1].function(), kTargetName);
  EXPECT_EQ(frames[1].offset(), 2u);

  EXPECT_EQ(frames[2].function(), "getpid");
  EXPECT_EQ(frames[2].module(), "libc.so.6");
  EXPECT_EQ(frames[2].offset(), 0u);
  EXPECT_EQ(frames[3].function(), "getpid");
  EXPECT_EQ(frames[3].offset(), 1u);

  ExpectAddressOnly(frames[4], 8);
  EXPECT_EQ(frames[4].module(), "");

  // Served from the caches the second time.
  frames = symbolizer.Symbolize(getpid(), {libc_getpid, target});
  EXPECT_EQ(frames[0].function(), "getpid");
  EXPECT_EQ(frames[1].function(), kTargetName);
}

TEST(Symbolizer, NoAddressesAndUnknownProcess) {
  Symbolizer symbolizer;
  EXPECT_TRUE(symbolizer.Symbolize(getpid(), {}).empty());
  std::vector<v1::Frame> frames = symbolizer.Symbolize(0x7ffffff0, {TargetAddress(), 0});
  ASSERT_EQ(frames.size(), 2u);
  ExpectAddressOnly(frames[0], TargetAddress());
  EXPECT_EQ(frames[0].module(), "");
  ExpectAddressOnly(frames[1], 0);
}

// A mapping created after the first call is found by re-reading the maps.
// Maps a second view of libc's getpid page, symbolizes an address in it, unmaps it.
std::vector<v1::Frame> SymbolizeFreshMapping(Symbolizer& symbolizer) {
  std::optional<FileLocation> getpid_location =
      LocateInFile(reinterpret_cast<void*>(GetpidAddress()));
  EXPECT_TRUE(getpid_location.has_value());
  if (!getpid_location) return {};
  target_files::ScopedFd fd(open(getpid_location->path.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t page_offset = getpid_location->offset & ~(page - 1);
  void* mapped = mmap(nullptr, 2 * page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd.get(),
                      static_cast<off_t>(page_offset));
  EXPECT_NE(mapped, MAP_FAILED);
  if (mapped == MAP_FAILED) return {};
  uint64_t address = reinterpret_cast<uint64_t>(mapped) + getpid_location->offset - page_offset;
  std::vector<v1::Frame> frames = symbolizer.Symbolize(getpid(), {address});
  munmap(mapped, 2 * page);
  return frames;
}

TEST(Symbolizer, NewMappingsWaitForTheRereadInterval) {
  Symbolizer::Options options;
  options.maps_reread_interval = std::chrono::hours(1);
  Symbolizer symbolizer(options);
  ASSERT_EQ(symbolizer.Symbolize(getpid(), {TargetAddress()})[0].function(), kTargetName);
  std::vector<v1::Frame> frames = SymbolizeFreshMapping(symbolizer);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function(), "") << "maps re-read before the interval passed";
}

TEST(Symbolizer, RereadsMapsForNewMappings) {
  Symbolizer::Options options;
  options.maps_reread_interval = std::chrono::milliseconds(0);
  Symbolizer symbolizer(options);
  ASSERT_EQ(symbolizer.Symbolize(getpid(), {TargetAddress()})[0].function(), kTargetName);
  std::vector<v1::Frame> frames = SymbolizeFreshMapping(symbolizer);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function(), "getpid");
  EXPECT_EQ(frames[0].module(), "libc.so.6");
  EXPECT_EQ(frames[0].offset(), 0u);
}

TEST(Symbolizer, TinyCacheBoundStillGivesCorrectResults) {
  Symbolizer::Options options;
  options.max_cached_symbols = 1;
  Symbolizer symbolizer(options);
  uint64_t target = TargetAddress();
  uint64_t libc_getpid = GetpidAddress();
  for (int round = 0; round < 3; ++round) {
    std::vector<v1::Frame> frames =
        symbolizer.Symbolize(getpid(), {target, libc_getpid, target + 1, libc_getpid + 2});
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_EQ(frames[0].function(), kTargetName);
    EXPECT_EQ(frames[1].function(), "getpid");
    EXPECT_EQ(frames[2].function(), kTargetName);
    EXPECT_EQ(frames[2].offset(), 1u);
    EXPECT_EQ(frames[3].function(), "getpid");
    EXPECT_EQ(frames[3].offset(), 2u);
    // One call at a time too, so every call has to reload an evicted table.
    EXPECT_EQ(symbolizer.Symbolize(getpid(), {target})[0].function(), kTargetName);
    EXPECT_EQ(symbolizer.Symbolize(getpid(), {libc_getpid})[0].function(), "getpid");
  }
}

// Value of a .dynsym symbol, read with nothing but <elf.h>.
std::optional<uint64_t> DynsymValue(const std::string& elf, const std::string& name) {
  if (elf.size() < sizeof(Elf64_Ehdr)) return std::nullopt;
  Elf64_Ehdr ehdr;
  memcpy(&ehdr, elf.data(), sizeof(ehdr));
  if (ehdr.e_shoff + uint64_t{ehdr.e_shnum} * sizeof(Elf64_Shdr) > elf.size()) return std::nullopt;
  std::vector<Elf64_Shdr> sections(ehdr.e_shnum);
  memcpy(sections.data(), elf.data() + ehdr.e_shoff, sections.size() * sizeof(Elf64_Shdr));
  for (const Elf64_Shdr& section : sections) {
    if (section.sh_type != SHT_DYNSYM || section.sh_link >= sections.size()) continue;
    const Elf64_Shdr& strtab = sections[section.sh_link];
    for (uint64_t i = 0; i < section.sh_size / sizeof(Elf64_Sym); ++i) {
      Elf64_Sym sym;
      memcpy(&sym, elf.data() + section.sh_offset + i * sizeof(Elf64_Sym), sizeof(sym));
      if (sym.st_name < strtab.sh_size && sym.st_shndx != SHN_UNDEF &&
          name == elf.data() + strtab.sh_offset + sym.st_name) {
        return sym.st_value;
      }
    }
  }
  return std::nullopt;
}

// Runtime address of a link-time virtual address, from the file's PT_LOAD headers and the
// process's executable mapping of that file.
std::optional<uint64_t> RuntimeAddress(const std::string& elf, uint64_t vaddr,
                                       const std::vector<symbolize::MemoryMapping>& maps,
                                       const std::string& path) {
  Elf64_Ehdr ehdr;
  memcpy(&ehdr, elf.data(), sizeof(ehdr));
  for (int i = 0; i < ehdr.e_phnum; ++i) {
    Elf64_Phdr phdr;
    memcpy(&phdr, elf.data() + ehdr.e_phoff + i * sizeof(Elf64_Phdr), sizeof(phdr));
    if (phdr.p_type != PT_LOAD || vaddr < phdr.p_vaddr || vaddr >= phdr.p_vaddr + phdr.p_filesz) {
      continue;
    }
    uint64_t file_offset = vaddr - phdr.p_vaddr + phdr.p_offset;
    for (const symbolize::MemoryMapping& m : maps) {
      if (m.executable && m.path == path && file_offset >= m.offset &&
          file_offset - m.offset < m.end - m.start) {
        return m.start + file_offset - m.offset;
      }
    }
  }
  return std::nullopt;
}

class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], nullptr, nullptr, args.data(), environ) != 0) pid_ = -1;
  }
  ~ChildProcess() { Kill(); }
  pid_t pid() const { return pid_; }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

TEST(Symbolizer, PythonChildDynsymThenVanishedProcess) {
  if (access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " is not installed";
  std::string elf = ReadAll(kPython);
  std::optional<uint64_t> call_vaddr = DynsymValue(elf, "PyObject_Call");
  std::optional<uint64_t> eval_vaddr = DynsymValue(elf, "_PyEval_EvalFrameDefault");
  ASSERT_TRUE(call_vaddr && eval_vaddr) << "symbols missing from .dynsym of " << kPython;

  ChildProcess child({kPython, "-c", "import time; time.sleep(30)"});
  ASSERT_GT(child.pid(), 0);
  std::optional<uint64_t> call_address;
  std::optional<uint64_t> eval_address;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !call_address && std::chrono::steady_clock::now() < deadline;) {
    auto maps = symbolize::ReadProcMaps("/proc", child.pid());
    ASSERT_TRUE(maps.ok()) << maps.status();
    call_address = RuntimeAddress(elf, *call_vaddr, *maps, kPython);
    eval_address = RuntimeAddress(elf, *eval_vaddr, *maps, kPython);
    if (!call_address) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(call_address && eval_address) << "no executable mapping of " << kPython;

  Symbolizer symbolizer;
  std::vector<v1::Frame> frames =
      symbolizer.Symbolize(child.pid(), {*call_address, *eval_address + 16, 4096});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].function(), "PyObject_Call");
  EXPECT_EQ(frames[0].module(), "python3.11");
  EXPECT_EQ(frames[0].offset(), 0u);
  EXPECT_EQ(frames[1].function(), "_PyEval_EvalFrameDefault");
  EXPECT_EQ(frames[1].offset(), 16u);
  ExpectAddressOnly(frames[2], 4096);

  pid_t pid = child.pid();
  child.Kill();
  // Until told, cached mappings still serve samples taken just before the exit.
  EXPECT_EQ(symbolizer.Symbolize(pid, {*call_address})[0].function(), "PyObject_Call");
  symbolizer.ForgetProcess(pid);
  frames = symbolizer.Symbolize(pid, {*call_address, *eval_address});
  ASSERT_EQ(frames.size(), 2u);
  ExpectAddressOnly(frames[0], *call_address);
  EXPECT_EQ(frames[0].module(), "");
  ExpectAddressOnly(frames[1], *eval_address);
  Symbolizer fresh;
  frames = fresh.Symbolize(pid, {*call_address});
  ASSERT_EQ(frames.size(), 1u);
  ExpectAddressOnly(frames[0], *call_address);
}

// Garbage, truncated, missing, deleted and non-regular files behind a fake /proc: module names
// but no symbols, and no crash. A copy of libc in the same fake root is the positive control.
TEST(Symbolizer, CorruptAndUnreadableObjectsGiveAddressOnlyFrames) {
  std::optional<FileLocation> getpid_location =
      LocateInFile(reinterpret_cast<void*>(GetpidAddress()));
  ASSERT_TRUE(getpid_location.has_value());
  std::string libc = ReadAll(getpid_location->path);
  ASSERT_GT(libc.size(), getpid_location->offset);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  constexpr pid_t kPid = 4242;
  FakeProc proc(dir.path(), kPid);

  std::string garbage(64 * 1024, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 7919 % 251);
  WriteAll(proc.root + "/opt/bad/garbage.so", garbage);
  WriteAll(proc.root + "/opt/bad/header_only.so", libc.substr(0, 64));
  WriteAll(proc.root + "/opt/bad/half.so", libc.substr(0, libc.size() / 2));
  // Same build-id as libc: a size of its own keeps it from sharing libc's cached table.
  std::string bad_header = libc + "tail";
  bad_header[0x2e] = '\x7f';  // e_shoff far past the end
  bad_header[0x3d] = '\x7f';  // e_shnum huge
  WriteAll(proc.root + "/opt/bad/bad_header.so", bad_header);
  WriteAll(proc.root + "/opt/bad/gone.so", libc);  // mapped as "(deleted)"
  WriteAll(proc.root + "/opt/good/libc.so.6", libc);
  fs::create_directories(proc.root + "/opt/bad/dir.so");
  ASSERT_EQ(mkfifo((proc.root + "/opt/bad/fifo.so").c_str(), 0600), 0);
  // An absolute symlink must resolve inside the fake root, where it points at nothing.
  fs::create_symlink(getpid_location->path, proc.root + "/opt/bad/escape.so");

  const std::vector<std::string> paths = {
      "/opt/good/libc.so.6", "/opt/bad/garbage.so", "/opt/bad/header_only.so",
      "/opt/bad/half.so",    "/opt/bad/bad_header.so", "/opt/bad/missing.so",
      "/opt/bad/gone.so (deleted)", "/opt/bad/dir.so", "/opt/bad/fifo.so",
      "/opt/bad/escape.so"};
  // Each file mapped whole at its own 1 GiB slot, so an address's file offset is known.
  constexpr uint64_t kSlot = 1ull << 30;
  std::string maps;
  std::vector<uint64_t> addresses;
  for (size_t i = 0; i < paths.size(); ++i) {
    uint64_t start = (i + 1) * kSlot;
    maps += MapsLine(start, start + libc.size() + 4096, 0, paths[i]);
    addresses.push_back(start + getpid_location->offset);
  }
  maps += MapsLine(0x7ffd1e9f0000, 0x7ffd1e9f2000, 0, "[vdso]");
  addresses.push_back(0x7ffd1e9f0100);
  proc.SetMaps(maps);

  Symbolizer::Options options;
  options.proc_root = proc.proc_root;
  options.debug_root = dir.path() + "/no-debug";
  Symbolizer symbolizer(options);
  for (int round = 0; round < 2; ++round) {
    std::vector<v1::Frame> frames = symbolizer.Symbolize(kPid, addresses);
    ASSERT_EQ(frames.size(), addresses.size());
    EXPECT_EQ(frames[0].function(), "getpid");
    EXPECT_EQ(frames[0].module(), "libc.so.6");
    const std::vector<std::string> modules = {"garbage.so", "header_only.so", "half.so",
                                              "bad_header.so", "missing.so", "gone.so",
                                              "dir.so", "fifo.so", "escape.so", "[vdso]"};
    for (size_t i = 1; i < frames.size(); ++i) {
      SCOPED_TRACE(modules[i - 1]);
      ExpectAddressOnly(frames[i], addresses[i]);
      EXPECT_EQ(frames[i].module(), modules[i - 1]);
    }
  }
}

// Separate debug files: found by build-id (host or target root) and by .gnu_debuglink, and
// ignored when their build-id does not match.
class SymbolizerDebugFile : public ::testing::Test {
 protected:
  static constexpr pid_t kPid = 5151;

  void SetUp() override {
    if (access("/usr/bin/objcopy", X_OK) != 0) GTEST_SKIP() << "objcopy (binutils) is missing";
    ASSERT_FALSE(dir_.path().empty());
    exe_ = fs::read_symlink("/proc/self/exe").string();
    target_files::ScopedFd fd(open(exe_.c_str(), O_RDONLY | O_CLOEXEC));
    std::optional<symbolize::ElfInfo> info = symbolize::ReadElfInfo(fd.get());
    ASSERT_TRUE(info && !info->build_id.empty()) << "test binary has no build-id";
    build_id_ = info->build_id;
    std::string hex = info->BuildIdHex();
    build_id_path_ = "/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug";
    debug_ = dir_.path() + "/unit_tests.debug";
    ASSERT_TRUE(Run("objcopy --only-keep-debug '" + exe_ + "' '" + debug_ + "'"));
  }

  static bool Run(const std::string& command) { return std::system(command.c_str()) == 0; }

  // Maps lines of our own executable, renamed to `path` (inside a fake root).
  std::string OwnExeMaps(const std::string& path) const {
    std::istringstream lines(ReadAll("/proc/self/maps"));
    std::string out;
    for (std::string line; std::getline(lines, line);) {
      std::vector<symbolize::MemoryMapping> m = symbolize::ParseProcMaps(line);
      if (m.size() == 1 && m[0].path == exe_) {
        out += line.substr(0, line.size() - exe_.size()) + path + "\n";
      }
    }
    return out;
  }

  std::string SymbolizeTarget(const FakeProc& proc, const std::string& debug_root) const {
    Symbolizer::Options options;
    options.proc_root = proc.proc_root;
    options.debug_root = debug_root;
    Symbolizer symbolizer(options);
    v1::Frame frame = symbolizer.Symbolize(kPid, {TargetAddress() + 1})[0];
    EXPECT_EQ(frame.module(), "unit_tests");
    if (!frame.function().empty()) {
      EXPECT_EQ(frame.offset(), 1u);
    }
    return frame.function();
  }

  TempDir dir_;
  std::string exe_;
  std::string debug_;
  std::string build_id_;
  std::string build_id_path_;
};

TEST_F(SymbolizerDebugFile, FoundByBuildIdOrDebuglink) {
  FakeProc proc(dir_.path() + "/a", kPid);
  proc.SetMaps(OwnExeMaps("/opt/app/unit_tests"));
  std::string object = proc.root + "/opt/app/unit_tests";
  fs::create_directories(fs::path(object).parent_path());
  ASSERT_TRUE(Run("objcopy --strip-all '" + exe_ + "' '" + object + "'"));
  std::string empty_debug_root = dir_.path() + "/empty";

  // Stripped: the executable exports nothing, so there is no name to be had.
  EXPECT_EQ(SymbolizeTarget(proc, empty_debug_root), "");

  std::string host_debug_root = dir_.path() + "/host-debug";
  fs::create_directories(fs::path(host_debug_root + build_id_path_).parent_path());
  fs::copy_file(debug_, host_debug_root + build_id_path_);
  EXPECT_EQ(SymbolizeTarget(proc, host_debug_root), kTargetName);

  std::string target_debug = proc.root + "/usr/lib/debug" + build_id_path_;
  fs::create_directories(fs::path(target_debug).parent_path());
  fs::copy_file(debug_, target_debug);
  EXPECT_EQ(SymbolizeTarget(proc, empty_debug_root), kTargetName);

  FakeProc linked(dir_.path() + "/b", kPid);
  linked.SetMaps(OwnExeMaps("/opt/linked/unit_tests"));
  std::string linked_object = linked.root + "/opt/linked/unit_tests";
  fs::create_directories(fs::path(linked_object).parent_path());
  ASSERT_TRUE(Run("objcopy --strip-all --add-gnu-debuglink='" + debug_ + "' '" + exe_ + "' '" +
                  linked_object + "'"));
  EXPECT_EQ(SymbolizeTarget(linked, empty_debug_root), "");
  std::string linked_debug = linked.root + "/usr/lib/debug/opt/linked/unit_tests.debug";
  fs::create_directories(fs::path(linked_debug).parent_path());
  fs::copy_file(debug_, linked_debug);
  EXPECT_EQ(SymbolizeTarget(linked, empty_debug_root), kTargetName);
  fs::remove(linked_debug);
  fs::copy_file(debug_, linked.root + "/opt/linked/unit_tests.debug");
  EXPECT_EQ(SymbolizeTarget(linked, empty_debug_root), kTargetName);
}

TEST_F(SymbolizerDebugFile, MismatchedBuildIdIsIgnored) {
  FakeProc proc(dir_.path() + "/a", kPid);
  proc.SetMaps(OwnExeMaps("/opt/app/unit_tests"));
  std::string object = proc.root + "/opt/app/unit_tests";
  fs::create_directories(fs::path(object).parent_path());
  ASSERT_TRUE(Run("objcopy --strip-all '" + exe_ + "' '" + object + "'"));

  std::string stale = ReadAll(debug_);
  size_t at = stale.find(build_id_);
  ASSERT_NE(at, std::string::npos);
  stale[at + build_id_.size() - 1] ^= 1;
  std::string host_debug_root = dir_.path() + "/host-debug";
  WriteAll(host_debug_root + build_id_path_, stale);
  EXPECT_EQ(SymbolizeTarget(proc, host_debug_root), "");
}

}  // namespace
}  // namespace stallscope
