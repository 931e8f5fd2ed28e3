#include "python/interpreter_locator.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "symbolize/elf_symbols.h"
#include "target_files/target_files.h"

namespace stallscope {
namespace {

namespace fs = std::filesystem;

constexpr char kDebianPython[] = "/usr/bin/python3.11";
constexpr char kPyenvLibpython[] = "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0";

// A fake /proc with one process, 4242, whose root directory is `root`.
class FakeProc {
 public:
  FakeProc() {
    char dir[] = "/tmp/stallscope-locator-XXXXXX";
    base_ = mkdtemp(dir);
    fs::create_directories(base_ + "/proc/4242");
  }
  ~FakeProc() {
    std::error_code ignored;
    fs::remove_all(base_, ignored);
  }

  void SetProcess(const std::string& exe, const std::string& maps, const std::string& root) {
    fs::create_symlink(exe, base_ + "/proc/4242/exe");
    fs::create_symlink(root, base_ + "/proc/4242/root");
    std::ofstream(base_ + "/proc/4242/maps") << maps;
  }

  std::string proc() const { return base_ + "/proc"; }
  const std::string& base() const { return base_; }

 private:
  std::string base_;
};

uint64_t SymbolValue(const std::string& path, std::string_view name) {
  target_files::ScopedFd fd = target_files::OpenInRoot("", path, {}).fd;
  return symbolize::LookupSymbols(fd.get(), {name})[0].value_or(0);
}

TEST(PythonInterpreterLocator, ReadsTheExecutableInsideTheProcessRoot) {
  FakeProc fake;
  // A container's python at a path that does not exist on the host.
  std::string rootfs = fake.base() + "/rootfs";
  fs::create_directories(rootfs + "/opt/py/bin");
  fs::copy_file(kDebianPython, rootfs + "/opt/py/bin/python3.11");
  fake.SetProcess(
      "/opt/py/bin/python3.11",
      "00400000-0046e000 r--p 00000000 08:01 1234 /opt/py/bin/python3.11\n"
      "0046e000-0073c000 r-xp 0006e000 08:01 1234 /opt/py/bin/python3.11\n"
      "7f0000000000-7f0000020000 r-xp 00000000 08:01 99 /lib/x86_64-linux-gnu/libc.so.6\n",
      rootfs);
  absl::StatusOr<InterpreterSymbols> found = LocateInterpreter(4242, fake.proc());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->path, "/opt/py/bin/python3.11");
  EXPECT_EQ(found->load_bias, 0u);  // ET_EXEC
  EXPECT_EQ(found->runtime, SymbolValue(kDebianPython, "_PyRuntime"));
  EXPECT_NE(found->runtime, 0u);
  EXPECT_TRUE(found->version.has_value());
  EXPECT_TRUE(found->code_type.has_value());
  EXPECT_FALSE(found->debug_build);
  EXPECT_FALSE(found->free_threaded);
  EXPECT_EQ(found->series_from_name, "3.11");
}

TEST(PythonInterpreterLocator, BiasOfALibpythonMappedAnywhere) {
  if (!fs::exists(kPyenvLibpython)) GTEST_SKIP() << kPyenvLibpython << " is not installed";
  FakeProc fake;
  // An embedding program (no _PyRuntime of its own) with libpython loaded at 0x7f1200000000.
  fake.SetProcess("/usr/bin/env",
                  "55d000000000-55d000010000 r-xp 00000000 08:01 7 /usr/bin/env\n"
                  "7f1200000000-7f1200100000 r--p 00000000 08:01 8 " +
                      std::string(kPyenvLibpython) + "\n",
                  "/");
  absl::StatusOr<InterpreterSymbols> found = LocateInterpreter(4242, fake.proc());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->path, kPyenvLibpython);
  EXPECT_EQ(found->load_bias, 0x7f1200000000u);  // its first segment starts at address 0
  EXPECT_EQ(found->runtime, SymbolValue(kPyenvLibpython, "_PyRuntime"));
}

TEST(PythonInterpreterLocator, NotCPython) {
  FakeProc fake;
  fake.SetProcess("/usr/bin/env", "55d000000000-55d000010000 r-xp 00000000 08:01 7 /usr/bin/env\n",
                  "/");
  absl::StatusOr<InterpreterSymbols> found = LocateInterpreter(4242, fake.proc());
  EXPECT_TRUE(absl::IsNotFound(found.status())) << found.status();
  EXPECT_TRUE(absl::IsNotFound(LocateInterpreter(4243, fake.proc()).status()));
}

TEST(PythonInterpreterLocator, SeriesFromFileNames) {
  EXPECT_EQ(PythonSeriesFromFilename("/usr/bin/python3.11"), "3.11");
  EXPECT_EQ(PythonSeriesFromFilename("/usr/lib/libpython3.10.so.1.0"), "3.10");
  EXPECT_EQ(PythonSeriesFromFilename("/opt/lib/libpython3.13t.so.1.0"), "3.13");
  EXPECT_EQ(PythonSeriesFromFilename("/opt/python3.8/bin/uwsgi"), "");  // directory, not file
  EXPECT_EQ(PythonSeriesFromFilename("/usr/bin/python3"), "");
  EXPECT_EQ(PythonSeriesFromFilename("/usr/bin/uwsgi"), "");
}

}  // namespace
}  // namespace stallscope
