#include "symbolize/proc_maps.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace stallscope::symbolize {
namespace {

constexpr char kMaps[] =
    "55d0c8a00000-55d0c8a2a000 r--p 00000000 08:01 1315 /usr/bin/app\n"
    "55d0c8a2a000-55d0c8b00000 r-xp 0002a000 08:01 1315 /usr/bin/app\n"
    "55d0c9000000-55d0c9021000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f10a0000000-7f10a0010000 r-xp 00004000 fd:02 77   /opt/my dir/lib with space.so\n"
    "7f10a1000000-7f10a1001000 r-xp 00000000 fd:02 78   /tmp/jit.so (deleted)\n"
    "7f10a2000000-7f10a2001000 rwxp 00000000 00:00 0 \n"
    "this line is garbage\n"
    "7f10a3000000-7f10a2000000 r-xp 00000000 00:00 0 /end/before/start\n"
    "7ffd1e9f0000-7ffd1e9f2000 r-xp 00000000 00:00 0                          [vdso]";

TEST(ProcMaps, ParsesFieldsPathsWithSpacesAndDeletedFiles) {
  std::vector<MemoryMapping> maps = ParseProcMaps(kMaps);
  ASSERT_EQ(maps.size(), 7u);

  EXPECT_EQ(maps[1].start, 0x55d0c8a2a000u);
  EXPECT_EQ(maps[1].end, 0x55d0c8b00000u);
  EXPECT_EQ(maps[1].offset, 0x2a000u);
  EXPECT_EQ(maps[1].inode, 1315u);
  EXPECT_TRUE(maps[1].executable);
  EXPECT_FALSE(maps[0].executable);
  EXPECT_EQ(maps[1].path, "/usr/bin/app");
  EXPECT_EQ(maps[1].ModuleName(), "app");
  EXPECT_TRUE(maps[1].IsFile());

  EXPECT_EQ(maps[2].path, "[heap]");
  EXPECT_FALSE(maps[2].IsFile());

  EXPECT_EQ(maps[3].path, "/opt/my dir/lib with space.so");
  EXPECT_EQ(maps[3].ModuleName(), "lib with space.so");

  EXPECT_TRUE(maps[4].deleted);
  EXPECT_EQ(maps[4].path, "/tmp/jit.so");
  EXPECT_EQ(maps[4].ModuleName(), "jit.so");
  EXPECT_FALSE(maps[3].deleted);

  EXPECT_EQ(maps[5].path, "");
  EXPECT_EQ(maps[5].ModuleName(), "");
  EXPECT_TRUE(maps[5].executable);

  EXPECT_EQ(maps[6].path, "[vdso]");
  EXPECT_EQ(maps[6].ModuleName(), "[vdso]");
  EXPECT_TRUE(maps[6].Contains(0x7ffd1e9f0000));
  EXPECT_TRUE(maps[6].Contains(0x7ffd1e9f1fff));
  EXPECT_FALSE(maps[6].Contains(0x7ffd1e9f2000));
}

TEST(ProcMaps, EmptyAndUnsortedInput) {
  EXPECT_TRUE(ParseProcMaps("").empty());
  EXPECT_TRUE(ParseProcMaps("\n\n").empty());
  std::vector<MemoryMapping> maps = ParseProcMaps(
      "2000-3000 r-xp 00000000 00:00 0 /b\n"
      "1000-2000 r-xp 00000000 00:00 0 /a\n");
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].path, "/a");
  EXPECT_EQ(maps[1].path, "/b");
}

TEST(ProcMaps, ReadsOwnProcess) {
  absl::StatusOr<std::vector<MemoryMapping>> maps = ReadProcMaps("/proc", getpid());
  ASSERT_TRUE(maps.ok()) << maps.status();
  bool found_libc = false;
  for (const MemoryMapping& m : *maps) {
    if (m.executable && m.ModuleName() == "libc.so.6") found_libc = true;
  }
  EXPECT_TRUE(found_libc);
}

TEST(ProcMaps, MissingProcessIsAnError) {
  EXPECT_FALSE(ReadProcMaps("/proc", -5).ok());
  EXPECT_FALSE(ReadProcMaps("/nonexistent-proc-root", 1).ok());
}

}  // namespace
}  // namespace stallscope::symbolize
