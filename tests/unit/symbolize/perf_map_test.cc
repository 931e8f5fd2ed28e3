#include "symbolize/perf_map.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
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
  EXPECT_EQ(e->name, "LazyCompile:*handler /srv/app.js:10");
  EXPECT_NE(map.Find(0x7f000000301f), nullptr);
  EXPECT_EQ(map.Find(0x7f0000003020), nullptr);  // one past the end
  EXPECT_EQ(map.Find(0x1000), nullptr);
}

TEST(PerfMap, BoundedEntries) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::to_string(1000 + i * 16) + " 10 f\n";
  EXPECT_EQ(PerfMap::Parse(text, 10).size(), 10u);
}

// A container's JIT: PID 4321 on the host is 7 inside its namespace and wrote /tmp/perf-7.map
// inside its own root.
TEST(PerfMap, SymbolizerNamesJitCodeThroughTheTargetsRootAndNamespacePid) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("perfmap-test-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "4321" / "root" / "tmp");
  std::ofstream(root / "4321" / "status") << "Name:\tnode\nNSpid:\t4321\t7\n";
  std::ofstream(root / "4321" / "maps")
      << "7f0000000000-7f0000010000 r-xp 00000000 00:00 0 \n"
      << "7f1000000000-7f1000001000 r-xp 00000000 00:00 0                          [vdso]\n";
  std::ofstream(root / "4321" / "root" / "tmp" / "perf-7.map")
      << "7f0000001000 100 JS:*burnCpu /srv/app.js:3\n";
  std::ofstream(root / "4321" / "root" / "tmp" / "perf-4321.map") << "7f0000001000 100 wrong\n";

  EXPECT_EQ(symbolize::PerfMapPath(4321, root.string()),
            (root / "4321" / "root" / "tmp" / "perf-7.map").string());
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
