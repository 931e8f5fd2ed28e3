#include "target_files/mountinfo.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "target_files/counters.h"
#include "target_files/fuse_mounts.h"

namespace stallscope::target_files {
namespace {

TEST(Mountinfo, ParsesALineWithOptionalFields) {
  std::optional<MountEntry> m = ParseMountinfoLine(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_id, 36u);
  EXPECT_EQ(m->parent_id, 35u);
  EXPECT_EQ(m->major, 98u);
  EXPECT_EQ(m->minor, 0u);
  EXPECT_EQ(m->root, "/mnt1");
  EXPECT_EQ(m->mount_point, "/mnt2");
  EXPECT_EQ(m->fstype, "ext3");
}

TEST(Mountinfo, DecodesOctalEscapes) {
  std::optional<MountEntry> m = ParseMountinfoLine(
      "612 27 0:61 / /tmp/a\\040b\\011c\\012d\\134e rw - fuse.bindfs a\\040src rw");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, std::string("/tmp/a b\tc\nd\\e"));
  EXPECT_EQ(m->fstype, "fuse.bindfs");
  // Not three octal digits, or past a byte: kept as written.
  m = ParseMountinfoLine("1 0 0:1 / /x\\09\\777\\4 rw - tmpfs none rw");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/x\\09\\777\\4");
}

TEST(Mountinfo, RefusesOtherShapes) {
  for (const char* line : {"", "garbage", "1 2 3:4 / /x rw fuse none rw",  // no " - "
                           "1 2 3:4 / /x rw -",                             // no fstype
                           "x 2 3:4 / /x rw - ext4 a rw", "1 2 34 / /x rw - ext4 a rw",
                           "1 2 3:4 / relative rw - ext4 a rw", "-1 2 3:4 / /x rw - ext4 a rw",
                           "1 2 3:99999999999 / /x rw - ext4 a rw",
                           "99999999999999999999 2 3:4 / /x rw - ext4 a rw"}) {
    EXPECT_FALSE(ParseMountinfoLine(line)) << line;
  }
}

TEST(Mountinfo, FuseTypes) {
  EXPECT_TRUE(IsFuseType("fuse"));
  EXPECT_TRUE(IsFuseType("fuseblk"));
  EXPECT_TRUE(IsFuseType("fuse.bindfs"));
  EXPECT_TRUE(IsFuseType("fuse.fuse-overlayfs"));
  EXPECT_FALSE(IsFuseType("fusectl"));  // the control filesystem, served by the kernel
  EXPECT_FALSE(IsFuseType("overlay"));
  EXPECT_FALSE(IsFuseType("ext4"));
}

int MemFd(const std::string& text) {
  int fd = memfd_create("mountinfo-test", MFD_CLOEXEC);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  lseek(fd, 0, SEEK_SET);
  return fd;
}

TEST(Mountinfo, ReadsThisProcessesOwnMountinfo) {
  int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::vector<MountEntry> mounts = ReadMountinfo(fd, 1 << 20, 10000);
  close(fd);
  ASSERT_FALSE(mounts.empty());
  EXPECT_TRUE(std::any_of(mounts.begin(), mounts.end(),
                          [](const MountEntry& m) { return m.mount_point == "/proc"; }));
}

TEST(Mountinfo, StreamsPastGarbageWithinTheCaps) {
  std::string text = "garbage\n" + std::string(20000, 'x') + "\n";
  for (int i = 0; i < 10; ++i)
    text += std::to_string(100 + i) + " 1 0:5 / /m" + std::to_string(i) + " rw - tmpfs t rw\n";
  text += "200 1 0:9 / /last rw - fuse f rw";  // no final newline
  int fd = MemFd(text);
  uint64_t long_before = ShedCount(Shed::kLongLines);
  bool truncated = true;
  std::vector<MountEntry> all = ReadMountinfo(fd, 1 << 20, 100, &truncated);
  EXPECT_EQ(all.size(), 11u);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(all.back().mount_point, "/last");
  EXPECT_EQ(ShedCount(Shed::kLongLines), long_before + 1);

  lseek(fd, 0, SEEK_SET);
  uint64_t cut_before = ShedCount(Shed::kReadTruncated);
  std::vector<MountEntry> capped = ReadMountinfo(fd, 1 << 20, 4, &truncated);
  EXPECT_EQ(capped.size(), 4u);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(ShedCount(Shed::kReadTruncated), cut_before + 1);
  close(fd);
}

TEST(PathCrossesMountPoint, EveryDirectoryLookedUpIn) {
  std::vector<std::string> points = {"/srv/fuse", "/tmp"};
  EXPECT_TRUE(PathCrossesMountPoint("/tmp/perf-1.map", points));
  EXPECT_TRUE(PathCrossesMountPoint("/tmp", points));
  EXPECT_TRUE(PathCrossesMountPoint("/srv/fuse/a/b", points));
  EXPECT_TRUE(PathCrossesMountPoint("//srv/./fuse//x", points));
  EXPECT_TRUE(PathCrossesMountPoint("/tmp/../etc/passwd", points));  // looks up ".." in /tmp
  EXPECT_TRUE(PathCrossesMountPoint("/usr/../tmp/x", points));
  EXPECT_FALSE(PathCrossesMountPoint("/tmpfoo/x", points));
  EXPECT_FALSE(PathCrossesMountPoint("/srv/fusebox", points));
  EXPECT_FALSE(PathCrossesMountPoint("/srv/x", points));
  EXPECT_FALSE(PathCrossesMountPoint("/../../usr/bin/python3", points));
  EXPECT_TRUE(PathCrossesMountPoint("/anything", {"/"}));
  EXPECT_FALSE(PathCrossesMountPoint("/anything", {}));
}

}  // namespace
}  // namespace stallscope::target_files
