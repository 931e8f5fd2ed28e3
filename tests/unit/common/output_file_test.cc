#include "output_file.h"

#include <fcntl.h>
#include <limits.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace stallscope {
namespace {

constexpr uid_t kOtherUid = 65534;  // nobody

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteRaw(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool Mentions(const absl::Status& st, const std::string& what) {
  return std::string(st.message()).find(what) != std::string::npos;
}

// A fresh directory per test, with a root-only "secret" file beside it standing for /etc/shadow.
class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/output-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    root_ = templ;
    secret_ = root_ + "/secret";
    WriteRaw(secret_, "root only\n");
    chmod(secret_.c_str(), 0600);
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }

  // A subdirectory with MODE (chmod, so the umask does not narrow it).
  std::string Dir(const std::string& name, mode_t mode) {
    std::string dir = root_ + "/" + name;
    mkdir(dir.c_str(), 0700);
    chmod(dir.c_str(), mode);
    return dir;
  }

  std::string root_, secret_;
};

TEST_F(OutputFileTest, ANewFileIs0600WhateverTheUmask) {
  mode_t old = umask(0);
  absl::Status st = WriteOutputFile(root_ + "/out.json", "{}\n");
  umask(old);
  ASSERT_TRUE(st.ok()) << st;
  struct stat s {};
  ASSERT_EQ(stat((root_ + "/out.json").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0600u);
  EXPECT_EQ(ReadAll(root_ + "/out.json"), "{}\n");
}

TEST_F(OutputFileTest, ARelativeNameIsInTheWorkingDirectory) {
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir(root_.c_str()), 0);
  absl::Status plain = WriteOutputFile("plain.json", "p");
  absl::Status nested = WriteOutputFile("./sub/../nested.json", "n");
  ASSERT_EQ(chdir(cwd), 0);
  EXPECT_TRUE(plain.ok()) << plain;
  EXPECT_TRUE(absl::IsUnavailable(nested)) << nested;  // no sub/
  EXPECT_EQ(ReadAll(root_ + "/plain.json"), "p");
}

TEST_F(OutputFileTest, RefusesASymlinkAsTheLastComponentEvenInAStickyDirectory) {
  for (mode_t mode : {0755, 01777}) {
    std::string dir = Dir("d" + std::to_string(mode), mode);
    ASSERT_EQ(symlink(secret_.c_str(), (dir + "/out.json").c_str()), 0);
    ASSERT_EQ(symlink((dir + "/nowhere").c_str(), (dir + "/dangling.json").c_str()), 0);
    absl::Status st = WriteOutputFile(dir + "/out.json", "overwritten\n");
    EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
    EXPECT_TRUE(Mentions(st, "symbolic link")) << st;
    EXPECT_EQ(ReadAll(secret_), "root only\n");
    // A dangling link is not followed to create its target.
    EXPECT_FALSE(WriteOutputFile(dir + "/dangling.json", "x").ok());
    EXPECT_NE(access((dir + "/nowhere").c_str(), F_OK), 0);
  }
}

TEST_F(OutputFileTest, RefusesAWorldWritableDirectoryWithoutTheStickyBit) {
  std::string open_dir = Dir("open", 0777);
  absl::Status st = WriteOutputFile(open_dir + "/out.json", "x");
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_TRUE(Mentions(st, "writable by every user and not sticky")) << st;
  EXPECT_NE(access((open_dir + "/out.json").c_str(), F_OK), 0);
  // The same directory with the sticky bit (like /tmp) is fine for a new file.
  std::string sticky = Dir("sticky", 01777);
  EXPECT_TRUE(WriteOutputFile(sticky + "/out.json", "x").ok());
}

TEST_F(OutputFileTest, AnotherUsersFileInAStickyDirectoryIsRefusedOurOwnIsTruncated) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  std::string sticky = Dir("sticky", 01777);
  std::string planted = sticky + "/out.json";
  WriteRaw(planted, "planted by nobody\n");
  ASSERT_EQ(chown(planted.c_str(), kOtherUid, kOtherUid), 0);
  absl::Status st = WriteOutputFile(planted, "x");
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_TRUE(Mentions(st, "belongs to uid 65534")) << st;
  EXPECT_EQ(ReadAll(planted), "planted by nobody\n");  // not truncated before the check

  std::string ours = sticky + "/ours.json";
  WriteRaw(ours, "a much longer earlier run\n");
  ASSERT_TRUE(WriteOutputFile(ours, "new\n").ok());
  EXPECT_EQ(ReadAll(ours), "new\n");
}

TEST_F(OutputFileTest, AFileOfTheDirectorysOwnerIsAccepted) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  // Root writing into a user's own directory, over that user's earlier file: the user could
  // already do anything there, so this is not a trap (fs.protected_regular's rule).
  std::string home = Dir("home", 0755);
  ASSERT_EQ(chown(home.c_str(), kOtherUid, kOtherUid), 0);
  WriteRaw(home + "/out.json", "old\n");
  ASSERT_EQ(chown((home + "/out.json").c_str(), kOtherUid, kOtherUid), 0);
  EXPECT_TRUE(WriteOutputFile(home + "/out.json", "new\n").ok());
  EXPECT_EQ(ReadAll(home + "/out.json"), "new\n");
}

TEST_F(OutputFileTest, ASymlinkOnTheWayPlantedByAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a symlink to another user";
  // /tmp/reports -> /etc planted by nobody: with fs.protected_symlinks=0 the kernel follows it.
  std::string sticky = Dir("sticky", 01777);
  std::string elsewhere = Dir("elsewhere", 0755);
  ASSERT_EQ(symlink(elsewhere.c_str(), (sticky + "/reports").c_str()), 0);
  ASSERT_EQ(lchown((sticky + "/reports").c_str(), kOtherUid, kOtherUid), 0);
  absl::Status st = WriteOutputFile(sticky + "/reports/out.json", "x");
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_TRUE(Mentions(st, "the symlink reports on the way belongs to uid 65534")) << st;
  EXPECT_NE(access((elsewhere + "/out.json").c_str(), F_OK), 0);
}

TEST_F(OutputFileTest, OurOwnSymlinksOnTheWayAreFollowed) {
  // Like /var/run -> /run: relative and absolute targets, a chain, "..".
  std::string real = Dir("real", 0755);
  ASSERT_EQ(symlink("real", (root_ + "/relative").c_str()), 0);
  ASSERT_EQ(symlink((root_ + "/relative").c_str(), (root_ + "/absolute").c_str()), 0);
  EXPECT_TRUE(WriteOutputFile(root_ + "/relative/a.json", "a").ok());
  EXPECT_TRUE(WriteOutputFile(root_ + "/absolute/../real/./b.json", "b").ok());
  EXPECT_EQ(ReadAll(real + "/a.json"), "a");
  EXPECT_EQ(ReadAll(real + "/b.json"), "b");
  ASSERT_EQ(symlink("loop", (root_ + "/loop").c_str()), 0);
  EXPECT_TRUE(Mentions(WriteOutputFile(root_ + "/loop/c.json", "c"), "Too many levels of symbolic links"));
  EXPECT_TRUE(Mentions(WriteOutputFile(secret_ + "/c.json", "c"), "Not a directory"));
}

TEST_F(OutputFileTest, RefusesAHardLinkToAnotherFile) {
  std::string dir = Dir("d", 0755);
  ASSERT_EQ(link(secret_.c_str(), (dir + "/out.json").c_str()), 0);
  absl::Status st = WriteOutputFile(dir + "/out.json", "x");
  EXPECT_TRUE(Mentions(st, "hard links")) << st;
  EXPECT_EQ(ReadAll(secret_), "root only\n");
}

TEST_F(OutputFileTest, ExclusiveRefusesAnyExistingName) {
  std::string dir = Dir("d", 0700);
  WriteRaw(dir + "/app.py", "mine\n");
  absl::Status st = WriteOutputFile(dir + "/app.py", "x", {.exclusive = true});
  EXPECT_TRUE(Mentions(st, "already exists")) << st;
  EXPECT_EQ(ReadAll(dir + "/app.py"), "mine\n");
  mkdir((dir + "/pkg.py").c_str(), 0700);  // a directory named like the file
  EXPECT_FALSE(WriteOutputFile(dir + "/pkg.py", "x", {.exclusive = true}).ok());
  EXPECT_TRUE(WriteOutputFile(dir + "/new.py", "x", {.exclusive = true}).ok());
}

TEST_F(OutputFileTest, APrivateDirectoryIsNeverWorldWritable) {
  std::string sticky = Dir("sticky", 01777);
  absl::Status st = WriteOutputFile(sticky + "/fleet.db", "", {.truncate = false, .private_directory = true});
  EXPECT_TRUE(Mentions(st, "writable by every user")) << st;
  EXPECT_TRUE(WriteOutputFile(Dir("private", 0755) + "/fleet.db", "", {.private_directory = true}).ok());
}

TEST_F(OutputFileTest, WithoutTruncateAnExistingFileKeepsItsContents) {
  std::string db = root_ + "/fleet.db";
  WriteRaw(db, "SQLite format 3");
  absl::StatusOr<int> fd = OpenOutputFile(db, {.truncate = false});
  ASSERT_TRUE(fd.ok()) << fd.status();
  close(*fd);
  EXPECT_EQ(ReadAll(db), "SQLite format 3");
}

TEST_F(OutputFileTest, AFifoWithoutAReaderIsRefusedWithoutWaitingDevicesAreWritten) {
  std::string fifo = root_ + "/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::Status st = WriteOutputFile(fifo, "x");  // would block for ever without O_NONBLOCK
  EXPECT_TRUE(Mentions(st, "FIFO that no one reads")) << st;
  EXPECT_TRUE(WriteOutputFile("/dev/null", "x").ok());
  EXPECT_FALSE(WriteOutputFile(root_, "x").ok());  // a directory
  EXPECT_FALSE(WriteOutputFile(root_ + "/", "x").ok());
}

TEST_F(OutputFileTest, EveryWriteAndTheCloseAreChecked) {
  // /dev/full: every write fails with ENOSPC, as on a full disk.
  absl::Status st = WriteOutputFile("/dev/full", "report\n");
  EXPECT_TRUE(Mentions(st, "cannot write /dev/full: No space left on device")) << st;
  absl::StatusOr<FILE*> stream = OpenOutputStream("/dev/full");
  ASSERT_TRUE(stream.ok()) << stream.status();
  fputs("report\n", *stream);  // buffered: the failure shows at the flush in the close
  st = CloseOutputStream(*stream, "/dev/full");
  EXPECT_TRUE(Mentions(st, "No space left on device")) << st;
  EXPECT_TRUE(Mentions(WriteOutputFile("/nonexistent-dir/out.json", "x"),
                       "cannot write /nonexistent-dir/out.json: No such file or directory"));
}

}  // namespace
}  // namespace stallscope
