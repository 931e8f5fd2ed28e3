#include "symbolize/perf_map.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fcntl.h>

#include <fstream>

#include <gtest/gtest.h>

#include "symbolize/symbolizer.h"

namespace stallscope {
namespace {

using symbolize::PerfMap;

TEST(PerfMap, ParsesFindsAndSkipsGarbage) {
  PerfMap map = PerfMap::Parse(
      "7f0000001000 40 LazyCompile:~handler /srv/app.js:10\n"
      "garbage line\n"
      "zz 10 bad start\n"
      "7f0000002000 0 zero size\n"
      "0x7f0000003000 0x20 Interpreter:run\n"
      "7f0000001000 80 LazyCompile:*handler /srv/app.js:10\n");  // recompiled: replaces
  EXPECT_EQ(map.size(), 2u);
  const PerfMap::Entry* e = map.Find(0x7f0000001050);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(map.Name(*e), "LazyCompile:*handler /srv/app.js:10");
  EXPECT_NE(map.Find(0x7f000000301f), nullptr);
  EXPECT_EQ(map.Find(0x7f0000003020), nullptr);  // one past the end
  EXPECT_EQ(map.Find(0x1000), nullptr);
}

TEST(PerfMap, BoundedEntries) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::to_string(1000 + i * 16) + " 10 f\n";
  PerfMap::Limits limits;
  limits.max_entries = 10;
  EXPECT_EQ(PerfMap::Parse(text, limits).size(), 10u);
}

// A hostile map: megabytes of NULs (a sparse file), an endless line, then honest lines. Read
// streams it: honest entries still name frames, the junk costs nothing kept.
TEST(PerfMap, ReadStreamsPastJunkWithinTheLimits) {
  namespace fs = std::filesystem;
  fs::path path = fs::temp_directory_path() / ("perfmap-junk-" + std::to_string(getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out << "1000 10 first\n";
  }
  fs::resize_file(path, 8 << 20);  // a hole of NULs, no newline in it
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << "\n" << std::string(100000, 'x') << "\n";
    for (int i = 0; i < 50; ++i) out << std::hex << 0x2000 + i * 0x100 << " 10 f" << std::dec << i << "\n";
  }
  target_files::ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  PerfMap::Limits limits;
  limits.max_entries = 20;
  uint64_t shed_before = target_files::ShedCount(target_files::Shed::kPerfMapEntries);
  PerfMap map = PerfMap::Read(fd.get(), limits);
  EXPECT_EQ(map.size(), 20u);
  ASSERT_NE(map.Find(0x1004), nullptr);
  EXPECT_EQ(map.Name(*map.Find(0x1004)), "first");
  EXPECT_EQ(target_files::ShedCount(target_files::Shed::kPerfMapEntries), shed_before + 31);
  limits.max_read_bytes = 1 << 20;  // stops inside the hole: only what came before it
  target_files::ScopedFd again(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(PerfMap::Read(again.get(), limits).size(), 1u);
  fs::remove(path);
}

// A container's JIT: PID 4321 on the host is 7 inside its namespace and wrote /tmp/perf-7.map
// inside its own root.
TEST(PerfMap, SymbolizerNamesJitCodeThroughTheTargetsRootAndNamespacePid) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("perfmap-test-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "4321" / "root" / "tmp");
  std::ofstream(root / "4321" / "status")
      << "Name:\tnode\nUid:\t" << geteuid() << "\t" << geteuid() << "\t0\t0\nNSpid:\t4321\t7\n";
  std::ofstream(root / "4321" / "maps")
      << "7f0000000000-7f0000010000 r-xp 00000000 00:00 0 \n"
      << "7f1000000000-7f1000001000 r-xp 00000000 00:00 0                          [vdso]\n";
  std::ofstream(root / "4321" / "root" / "tmp" / "perf-7.map")
      << "7f0000001000 100 JS:*burnCpu /srv/app.js:3\n";
  std::ofstream(root / "4321" / "root" / "tmp" / "perf-4321.map") << "7f0000001000 100 wrong\n";

  EXPECT_EQ(symbolize::PerfMapPathInRoot("NSpid:\t4321\t7\n", 4321), "/tmp/perf-7.map");
  EXPECT_EQ(symbolize::PerfMapPathInRoot("Name:\tx\n", 4321), "/tmp/perf-4321.map");
  Symbolizer::Options options;
  options.proc_root = root.string();
  Symbolizer symbolizer(options);
  auto frames = symbolizer.Symbolize(4321, {0x7f0000001010, 0x7f0000005000, 0x12});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].function(), "JS:*burnCpu /srv/app.js:3");
  EXPECT_EQ(frames[0].module(), "[jit]");
  EXPECT_EQ(frames[0].offset(), 0x10u);
  EXPECT_EQ(frames[1].function(), "");  // anonymous, not in the map
  EXPECT_EQ(frames[2].module(), "");    // junk address: not looked up
  fs::remove_all(root);
}

}  // namespace
}  // namespace stallscope
