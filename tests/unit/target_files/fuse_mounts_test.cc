// The door against FUSE mounts of a target, with a fake /proc/PID: a directory whose "root" is
// the target's "/" and whose "mountinfo" says which mounts are FUSE. The mount ids are the real
// ones of the test's files (statx), so the door's statx check runs for real; that a stopped
// FUSE daemon would have made the door wait is shown with a real bindfs mount by
// tests/integration/test_hostile_targets.py.
#include "target_files/fuse_mounts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "target_files/counters.h"
#include "target_files/target_files.h"

namespace stallscope::target_files {
namespace {

namespace fs = std::filesystem;

uint64_t MountIdOf(const fs::path& path) {
  struct statx st;
  if (statx(AT_FDCWD, path.c_str(), 0, STATX_MNT_ID, &st) != 0 || !(st.stx_mask & STATX_MNT_ID))
    return 0;
  return st.stx_mnt_id;
}

class FuseDoorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A fresh fake proc dir per test: the door caches what it read of each for a second.
    static std::atomic<int> n{0};
    proc_ = fs::temp_directory_path() / ("fuse-door-test-" + std::to_string(getpid()) + "-" +
                                         std::to_string(n++));
    fs::remove_all(proc_);
    root_ = proc_ / "root";
    fs::create_directories(root_ / "tmp");
    fs::create_directories(root_ / "app");
    std::ofstream(root_ / "tmp" / "perf-1.map") << "0 10 jit\n";
    std::ofstream(root_ / "app" / "main.py") << "print()\n";
    fs::create_directory_symlink(root_ / "app", proc_ / "cwd");
    real_id_ = MountIdOf(root_);
    if (real_id_ == 0) GTEST_SKIP() << "statx gives no mount ids (kernel before 5.8)";
  }
  void TearDown() override { fs::remove_all(proc_); }

  void WriteMountinfo(const std::string& text) { std::ofstream(proc_ / "mountinfo") << text; }
  std::string Line(uint64_t id, const std::string& point, const std::string& type) {
    return std::to_string(id) + " 1 0:999999 / " + point + " rw,relatime shared:1 - " + type +
           " src rw\n";
  }

  fs::path proc_, root_;
  uint64_t real_id_ = 0;
};

TEST_F(FuseDoorTest, RefusesANamePastAFuseMountPointBeforeAnyLookup) {
  // The test's own files are not FUSE; /tmp of the target is (a made-up id).
  WriteMountinfo(Line(real_id_, "/", "ext4") + Line(987654, "/tmp", "fuse.bindfs"));
  uint64_t before = RefusalCount(Refusal::kOnFuse);
  Opened perf_map = OpenInRoot(root_.string(), "/tmp/perf-1.map", {});
  EXPECT_EQ(perf_map.refusal, Refusal::kOnFuse);
  EXPECT_EQ(RefusalCount(Refusal::kOnFuse), before + 1);
  EXPECT_EQ(OpenInRoot(root_.string(), "/app/../tmp/perf-1.map", {}).refusal, Refusal::kOnFuse);
  EXPECT_TRUE(OpenInRoot(root_.string(), "/app/main.py", {}).ok());
}

TEST_F(FuseDoorTest, SymlinksOnTheWayAreFollowedOnlyWhereTheyLeadIsChecked) {
  WriteMountinfo(Line(real_id_, "/", "ext4") + Line(987654, "/srv/fuse", "fuse.sshfs"));
  fs::create_directories(root_ / "srv" / "fuse" / "lib");
  std::ofstream(root_ / "srv" / "fuse" / "lib" / "libx.so") << "x";
  fs::create_symlink("/srv/fuse/lib", root_ / "lib64");        // absolute, into the mount
  fs::create_symlink("srv/fuse", root_ / "relative");          // relative, to the mount point
  fs::create_symlink("../tmp", root_ / "app" / "up");           // relative, elsewhere
  fs::create_symlink("/app/main.py", root_ / "tmp" / "final");  // a final symlink
  EXPECT_EQ(OpenInRoot(root_.string(), "/lib64/libx.so", {}).refusal, Refusal::kOnFuse);
  EXPECT_EQ(OpenInRoot(root_.string(), "/relative/lib/libx.so", {}).refusal, Refusal::kOnFuse);
  EXPECT_TRUE(OpenInRoot(root_.string(), "/app/up/perf-1.map", {}).ok());
  EXPECT_EQ(OpenInRoot(root_.string(), "/tmp/final", {}).refusal, Refusal::kSymlink);
  EXPECT_TRUE(OpenInRoot(root_.string(), "/tmp/final", {.follow_symlinks_in_root = true}).ok());
  fs::create_symlink("loop", root_ / "tmp" / "loop");
  EXPECT_FALSE(OpenInRoot(root_.string(), "/tmp/loop/x", {}).ok());
  EXPECT_EQ(OpenInRoot(root_.string(), "/missing/x", {}).error, ENOENT);
}

TEST_F(FuseDoorTest, RefusesAFileWhoseMountIsFuse) {
  // The mount holding the test's files, listed as FUSE at a point the path does not cross:
  // the statx (DONT_SYNC) mount id check refuses it.
  WriteMountinfo(Line(real_id_, "/elsewhere", "fuse"));
  Opened opened = OpenInRoot(root_.string(), "/app/main.py", {});
  EXPECT_EQ(opened.refusal, Refusal::kOnFuse);
  EXPECT_EQ(OpenBeneath((proc_ / "cwd").string(), "main.py", {}).refusal, Refusal::kOnFuse);
}

TEST_F(FuseDoorTest, NoFuseMountsOpensAsBefore) {
  WriteMountinfo(Line(real_id_, "/", "ext4") + Line(5, "/proc", "proc"));
  EXPECT_TRUE(OpenInRoot(root_.string(), "/tmp/perf-1.map", {}).ok());
  EXPECT_TRUE(OpenBeneath((proc_ / "cwd").string(), "main.py", {}).ok());
}

TEST_F(FuseDoorTest, UnreadableMountinfoIsCountedAndOpensAsBefore) {
  uint64_t before = ShedCount(Shed::kMountinfoUnread);
  EXPECT_TRUE(OpenInRoot(root_.string(), "/tmp/perf-1.map", {}).ok());
  EXPECT_GE(ShedCount(Shed::kMountinfoUnread), before + 1);
}

TEST_F(FuseDoorTest, TooManyMountsMakeTheWholeTargetSuspect) {
  std::string text;
  for (size_t i = 0; i <= FuseMounts::kMaxMounts; ++i)
    text += Line(1000 + i, "/m" + std::to_string(i), "tmpfs");
  WriteMountinfo(text);
  EXPECT_EQ(OpenInRoot(root_.string(), "/app/main.py", {}).refusal, Refusal::kOnFuse);
}

TEST(FuseMountsCache, ANewMountIsSeenAtTheNextRead) {
  fs::path proc = fs::temp_directory_path() / ("fuse-cache-test-" + std::to_string(getpid()));
  fs::create_directories(proc);
  std::ofstream(proc / "mountinfo") << "1 0 0:1 / / rw - ext4 a rw\n";
  FuseMounts mounts;
  EXPECT_FALSE(mounts.IsFuseMount(proc.string(), 2, 0, 2, ""));
  std::ofstream(proc / "mountinfo") << "1 0 0:1 / / rw - ext4 a rw\n2 1 0:2 / /f rw - fuse f rw\n";
  // Id 2 was not among the target's mounts: re-read once the short retry delay has passed.
  usleep(absl::ToInt64Microseconds(FuseMounts::kUnknownIdRetry) + 20000);
  EXPECT_TRUE(mounts.IsFuseMount(proc.string(), 2, 0, 2, ""));
  // Another mount of the same FUSE superblock (device 0:2) that the target does not list: a
  // mount outside its root, or in a copied namespace.
  EXPECT_TRUE(mounts.IsFuseMount(proc.string(), 77, 0, 2, ""));
  EXPECT_FALSE(mounts.IsFuseMount(proc.string(), 77, 0, 3, ""));
  EXPECT_TRUE(mounts.PathOnFuse(proc.string(), "/f/x"));
  EXPECT_FALSE(mounts.PathOnFuse(proc.string(), "/g/x"));
  fs::remove_all(proc);
}

}  // namespace
}  // namespace stallscope::target_files
