#include "target_files/target_files.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "symbolize/perf_map.h"
#include "symbolize/proc_maps.h"

namespace stallscope::target_files {
namespace {

namespace fs = std::filesystem;

// A container-like layout: `root` plays the target's "/", `host` a directory outside it that
// holds a secret.
class TargetFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("target-files-test-" + std::to_string(getpid()));
    fs::remove_all(base_);
    root_ = base_ / "root";
    host_ = base_ / "host";
    fs::create_directories(root_ / "tmp");
    fs::create_directories(host_);
    std::ofstream(host_ / "secret") << "HOST-SECRET\n";
    std::ofstream(root_ / "tmp" / "plain") << "inside\n";
  }
  void TearDown() override { fs::remove_all(base_); }

  Opened Open(const std::string& path, Rules rules = {}) { return OpenInRoot(root_.string(), path, rules); }

  fs::path base_, root_, host_;
};

TEST_F(TargetFilesTest, OpensARegularFileInsideTheRoot) {
  Opened opened = Open("/tmp/plain");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(ReadOpened(opened.fd.get(), 100), "inside\n");
  EXPECT_TRUE(fcntl(opened.fd.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(opened.fd.get(), F_GETFD) & FD_CLOEXEC);
}

TEST_F(TargetFilesTest, RefusesAFifoWithoutBlocking) {
  ASSERT_EQ(mkfifo((root_ / "tmp" / "fifo").c_str(), 0600), 0);
  uint64_t before = RefusalCount(Refusal::kNotRegular);
  Opened opened = Open("/tmp/fifo");  // a blocking open would hang the test here
  EXPECT_FALSE(opened.ok());
  EXPECT_EQ(opened.refusal, Refusal::kNotRegular);
  EXPECT_EQ(RefusalCount(Refusal::kNotRegular), before + 1);
}

TEST_F(TargetFilesTest, RefusesADirectory) {
  EXPECT_EQ(Open("/tmp").refusal, Refusal::kNotRegular);
}

TEST_F(TargetFilesTest, RefusesASymlinkAsTheLastComponent) {
  fs::create_symlink(host_ / "secret", root_ / "tmp" / "link");
  fs::create_symlink("plain", root_ / "tmp" / "relative-link");
  uint64_t before = RefusalCount(Refusal::kSymlink);
  EXPECT_EQ(Open("/tmp/link").refusal, Refusal::kSymlink);
  EXPECT_EQ(Open("/tmp/relative-link").refusal, Refusal::kSymlink);
  EXPECT_EQ(RefusalCount(Refusal::kSymlink), before + 2);
}

TEST_F(TargetFilesTest, AbsoluteSymlinksOnTheWayResolveInsideTheRoot) {
  // root/tmp/dir -> <host dir> (absolute): inside the root that names root/<host dir>, which
  // does not exist, so the host's secret is never reached.
  fs::create_symlink(host_, root_ / "tmp" / "dir");
  Opened opened = Open("/tmp/dir/secret");
  EXPECT_FALSE(opened.ok());
  EXPECT_EQ(opened.error, ENOENT);
  // The same layout made inside the root resolves there.
  fs::create_directories(root_ / host_.relative_path());
  std::ofstream(root_ / host_.relative_path() / "secret") << "container file\n";
  opened = Open("/tmp/dir/secret");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(ReadOpened(opened.fd.get(), 100), "container file\n");
}

TEST_F(TargetFilesTest, DotDotStopsAtTheRoot) {
  std::string escape = "/tmp/../../../../../../" + (host_ / "secret").relative_path().string();
  EXPECT_FALSE(Open(escape).ok());
  std::ofstream(root_ / "top") << "top\n";
  EXPECT_TRUE(Open("/../../top").ok());
}

TEST_F(TargetFilesTest, FollowsInRootSymlinksOnlyWhenAllowed) {
  fs::create_symlink("/tmp/plain", root_ / "tmp" / "abs-link");
  EXPECT_EQ(Open("/tmp/abs-link").refusal, Refusal::kSymlink);
  Opened opened = Open("/tmp/abs-link", {.follow_symlinks_in_root = true});
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(ReadOpened(opened.fd.get(), 100), "inside\n");
  fs::create_symlink(host_ / "secret", root_ / "tmp" / "out-link");
  EXPECT_FALSE(Open("/tmp/out-link", {.follow_symlinks_in_root = true}).ok());
}

TEST_F(TargetFilesTest, SizeCapIsCheckedOnTheFd) {
  {
    std::ofstream big(root_ / "tmp" / "sparse");
  }
  fs::resize_file(root_ / "tmp" / "sparse", 1ull << 30);  // sparse: costs no disk
  uint64_t before = RefusalCount(Refusal::kTooLarge);
  EXPECT_EQ(Open("/tmp/sparse", {.max_bytes = 1 << 20}).refusal, Refusal::kTooLarge);
  EXPECT_EQ(RefusalCount(Refusal::kTooLarge), before + 1);
}

TEST_F(TargetFilesTest, OwnerRule) {
  EXPECT_TRUE(Open("/tmp/plain", {.max_bytes = 100, .owner = geteuid()}).ok());
  uint64_t before = RefusalCount(Refusal::kWrongOwner);
  EXPECT_EQ(Open("/tmp/plain", {.max_bytes = 100, .owner = geteuid() + 1}).refusal, Refusal::kWrongOwner);
  EXPECT_EQ(RefusalCount(Refusal::kWrongOwner), before + 1);
}

TEST_F(TargetFilesTest, BeneathAWorkingDirectoryNeverAbove) {
  fs::create_directories(root_ / "app" / "sub");
  std::ofstream(root_ / "app" / "sub" / "main.py") << "import tornado\n";
  std::ofstream(root_ / "app" / "main.py") << "import aiohttp\n";
  fs::create_symlink(host_ / "secret", root_ / "app" / "out.py");
  fs::create_directory_symlink(host_, root_ / "app" / "hostdir");
  std::string cwd = (root_ / "app").string();
  Opened opened = OpenBeneath(cwd, "sub/main.py", {});
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(ReadOpened(opened.fd.get(), 100), "import tornado\n");
  EXPECT_TRUE(OpenBeneath(cwd, "./main.py", {}).ok());
  EXPECT_EQ(OpenBeneath(cwd, "../tmp/plain", {}).refusal, Refusal::kSymlink);
  EXPECT_EQ(OpenBeneath(cwd, "out.py", {}).refusal, Refusal::kSymlink);
  EXPECT_EQ(OpenBeneath(cwd, "hostdir/secret", {}).refusal, Refusal::kSymlink);
  EXPECT_FALSE(OpenBeneath(cwd, "/etc/hostname", {}).ok());
}

TEST_F(TargetFilesTest, MissingIsNotARefusal) {
  Opened opened = Open("/tmp/none");
  EXPECT_FALSE(opened.ok());
  EXPECT_FALSE(opened.refusal.has_value());
  EXPECT_EQ(opened.error, ENOENT);
}

TEST_F(TargetFilesTest, ProcFilesAreBoundedAndRegularOnly) {
  std::ofstream(root_ / "tmp" / "long") << std::string(10000, 'x');
  uint64_t before = ShedCount(Shed::kReadTruncated);
  std::optional<std::string> text = ReadProcFile((root_ / "tmp" / "long").string(), 100);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(text->size(), 100u);
  EXPECT_EQ(ShedCount(Shed::kReadTruncated), before + 1);
  ASSERT_EQ(mkfifo((root_ / "tmp" / "fifo").c_str(), 0600), 0);
  EXPECT_FALSE(ReadProcFile((root_ / "tmp" / "fifo").string()).has_value());
  fs::create_symlink(host_ / "secret", root_ / "tmp" / "link");
  EXPECT_EQ(OpenProcFile((root_ / "tmp" / "link").string()).refusal, Refusal::kSymlink);
  // The real thing: /proc files are regular.
  EXPECT_TRUE(ReadProcFile("/proc/self/status").has_value());
}

TEST_F(TargetFilesTest, MappedObjectsOpenThroughMapFiles) {
  auto maps = symbolize::ReadProcMaps("/proc", getpid());
  ASSERT_TRUE(maps.ok());
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  const symbolize::MemoryMapping* text = nullptr;
  for (const auto& m : *maps)
    if (m.path == exe && m.executable) text = &m;
  ASSERT_NE(text, nullptr);
  Opened opened = OpenMappedObject("/proc", getpid(), text->start, text->end, {});
  ASSERT_TRUE(opened.ok());
  struct stat a, b;
  ASSERT_EQ(fstat(opened.fd.get(), &a), 0);
  ASSERT_EQ(stat("/proc/self/exe", &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(LineReader, StreamsLinesAndSkipsOverlongOnes) {
  std::string text = "short\n" + std::string(5000, 'y') + "\nafter\nlast";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fds[1]);
  uint64_t before = ShedCount(Shed::kLongLines);
  LineReader lines(fds[0], 1 << 20, 100);
  std::string_view line;
  std::vector<std::string> got;
  while (lines.Next(&line)) got.emplace_back(line);
  close(fds[0]);
  EXPECT_EQ(got, (std::vector<std::string>{"short", "after", "last"}));
  EXPECT_EQ(ShedCount(Shed::kLongLines), before + 1);
  EXPECT_FALSE(lines.truncated());
}

TEST(LineReader, StopsAtTheByteCap) {
  std::string path = fs::temp_directory_path() / ("line-reader-" + std::to_string(getpid()));
  {
    std::ofstream out(path);
    for (int i = 0; i < 100000; ++i) out << "line " << i << "\n";
  }
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  LineReader lines(fd.get(), 1000, 100);
  std::string_view line;
  size_t count = 0;
  while (lines.Next(&line)) ++count;
  EXPECT_TRUE(lines.truncated());
  EXPECT_LT(count, 200u);
  fs::remove(path);
}

TEST(StatusText, EffectiveUidAndInnermostPid) {
  std::string_view status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\nNSpid:\t4321\t7\n";
  EXPECT_EQ(EffectiveUidFromStatus(status), 0u);
  EXPECT_EQ(InnermostPidFromStatus(status), 7);
  EXPECT_EQ(EffectiveUidFromStatus("Uid:\tgarbage\n"), std::nullopt);
  EXPECT_EQ(InnermostPidFromStatus("Name:\tNSpid:\n"), std::nullopt);
  EXPECT_EQ(EffectiveUidFromStatus(""), std::nullopt);
}

// fd links are what a target makes of its fds; only "socket:[DIGITS]" within uint64_t counts.
TEST(SocketInode, ParsesOnlyTheExactSocketShape) {
  EXPECT_EQ(SocketInodeOfLink("socket:[1161]"), 1161u);
  EXPECT_EQ(SocketInodeOfLink("socket:[0]"), 0u);
  EXPECT_EQ(SocketInodeOfLink("socket:[18446744073709551615]"), UINT64_MAX);
  for (std::string_view hostile :
       {"socket:[18446744073709551616]",                       // one past uint64_t
        "socket:[99999999999999999999999999999999999999999]",  // far past it
        "socket:[]", "socket:[", "socket:", "socket:[12", "socket:12]", "socket:[12]x",
        "socket:[+12]", "socket:[-12]", "socket:[ 12]", "socket:[12 ]", "socket:[0x1f]",
        "socket:[garbage]", "Socket:[12]", "xsocket:[12]", "pipe:[12]",
        "anon_inode:[eventpoll]", "/tmp/socket:[12]", "", "]"}) {
    EXPECT_EQ(SocketInodeOfLink(hostile), std::nullopt) << hostile;
  }
  // A NUL inside the digits (string_view literals above stop at it: built apart).
  EXPECT_EQ(SocketInodeOfLink(std::string_view("socket:[1\0]", 11)), std::nullopt);
}

// A fake /proc/PID/fd: symlinks whose text the test chooses, as a target chooses its fds'.
class FdLinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fd-links-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (dir_fd_ >= 0) close(dir_fd_);
    fs::remove_all(dir_);
  }
  void Link(const std::string& name, const std::string& text) { fs::create_symlink(text, dir_ / name); }
  int DirFd() {
    if (dir_fd_ < 0) dir_fd_ = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return dir_fd_;
  }

  fs::path dir_;
  int dir_fd_ = -1;
};

TEST_F(FdLinksTest, ReadsASocketLinkWithoutFollowingIt) {
  Link("3", "socket:[1161]");
  // A link whose text names a real file elsewhere: read as text, the file is never touched.
  std::ofstream(dir_ / "socket:[42]") << "x";
  Link("4", "socket:[42]");
  EXPECT_EQ(SocketInodeOfFdLink(DirFd(), "3"), 1161u);
  EXPECT_EQ(SocketInodeOfFdLink(DirFd(), "4"), 42u);
}

TEST_F(FdLinksTest, RefusesWhatIsNoSocketLink) {
  Link("5", "pipe:[12]");
  Link("6", "socket:[" + std::string(40, '1') + "]");      // overflow
  Link("7", "socket:[" + std::string(4000, '1') + "]");    // overlong: cut by the buffer
  Link("8", "socket:[12]" + std::string(100, 'x'));        // right start, junk after it
  Link("9", "socket:[1a]");
  Link("10", "/dev/null");
  std::ofstream(dir_ / "11") << "socket:[12]";  // a regular file holding the text
  fs::create_directory(dir_ / "12");
  for (const char* name : {"5", "6", "7", "8", "9", "10", "11", "12", "13" /* missing */}) {
    EXPECT_EQ(SocketInodeOfFdLink(DirFd(), name), std::nullopt) << name;
  }
}

TEST_F(FdLinksTest, NameIsOneComponentOfTheDirectory) {
  fs::create_directories(dir_ / "sub");
  Link("sub/3", "socket:[77]");
  EXPECT_EQ(SocketInodeOfFdLink(DirFd(), "sub/3"), std::nullopt);
  EXPECT_EQ(SocketInodeOfFdLink(DirFd(), ".."), std::nullopt);
  EXPECT_EQ(SocketInodeOfFdLink(DirFd(), "."), std::nullopt);
  EXPECT_EQ(SocketInodeOfFdLink(DirFd(), ""), std::nullopt);
  EXPECT_EQ(SocketInodeOfFdLink(DirFd(), std::string_view("3\0", 2)), std::nullopt);
  EXPECT_EQ(SocketInodeOfFdLink(-1, "3"), std::nullopt);
}

TEST_F(FdLinksTest, ListsSocketFdsUpToTheCap) {
  Link("0", "/dev/null");
  Link("3", "socket:[100]");
  Link("4", "socket:[101]");
  Link("5", "pipe:[7]");
  Link("not-an-fd", "socket:[102]");  // only numeric names are fds
  Link("-6", "socket:[103]");
  auto sorted = [](std::vector<SocketFd> fds) {
    std::vector<std::pair<int, uint64_t>> out;
    for (const SocketFd& s : fds) out.emplace_back(s.fd, s.inode);
    std::sort(out.begin(), out.end());
    return out;
  };
  using Pairs = std::vector<std::pair<int, uint64_t>>;
  EXPECT_EQ(sorted(ListSocketFds(dir_.string(), 100)), (Pairs{{3, 100}, {4, 101}}));
  // Two entries looked at at most: whichever they are, no more than two sockets, and the cut
  // is counted.
  uint64_t before = ShedCount(Shed::kReadTruncated);
  EXPECT_LE(ListSocketFds(dir_.string(), 2).size(), 2u);
  EXPECT_EQ(ShedCount(Shed::kReadTruncated), before + 1);
  EXPECT_TRUE(ListSocketFds((dir_ / "missing").string(), 100).empty());
  // The directory itself is not followed through a symlink.
  fs::create_directory_symlink(dir_, dir_.string() + "-link");
  EXPECT_TRUE(ListSocketFds(dir_.string() + "-link", 100).empty());
  fs::remove(dir_.string() + "-link");
}

// The real thing: this process's own socket, as /proc/self/fd shows it.
TEST(FdLinks, FindsThisProcessesSocket) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  struct stat st;
  ASSERT_EQ(fstat(s, &st), 0);
  bool found = false;
  for (const SocketFd& fd : ListSocketFds("/proc/self/fd", 1 << 16))
    found |= fd.fd == s && fd.inode == st.st_ino;
  close(s);
  EXPECT_TRUE(found);
}

// Perf maps follow perf's rule: owned by the target's effective uid, else refused and counted.
TEST_F(TargetFilesTest, PerfMapMustBeOwnedByTheTargetsEffectiveUid) {
  fs::path proc = base_ / "proc";
  fs::create_directories(proc / "77");
  fs::create_directory_symlink(root_, proc / "77" / "root");
  std::ofstream(root_ / "tmp" / "perf-77.map") << "1000 10 f\n";
  std::ofstream(proc / "77" / "status") << "Uid:\t0\t" << geteuid() + 1 << "\t0\t0\n";
  uint64_t before = RefusalCount(Refusal::kWrongOwner);
  EXPECT_EQ(symbolize::OpenPerfMap(77, proc.string()).refusal, Refusal::kWrongOwner);
  EXPECT_EQ(RefusalCount(Refusal::kWrongOwner), before + 1);
  std::ofstream(proc / "77" / "status") << "Uid:\t0\t" << geteuid() << "\t0\t0\n";
  EXPECT_TRUE(symbolize::OpenPerfMap(77, proc.string()).ok());
}

}  // namespace
}  // namespace stallscope::target_files

namespace stallscope::target_files {
namespace {

TEST(Counters, FillAgentStatsMirrorsTheCounters) {
  CountRefusal(Refusal::kNoOpenat2);
  CountShed(Shed::kSymbolTablesEvicted, 2);
  v1::AgentStats stats;
  FillAgentStats(&stats);
  EXPECT_EQ(stats.refused_no_openat2(), RefusalCount(Refusal::kNoOpenat2));
  EXPECT_GE(stats.refused_no_openat2(), 1u);
  EXPECT_EQ(stats.shed_symbol_tables_evicted(), ShedCount(Shed::kSymbolTablesEvicted));
  EXPECT_EQ(stats.refused_symlink(), RefusalCount(Refusal::kSymlink));
  CountRefusal(Refusal::kOnFuse);
  CountShed(Shed::kMountinfoUnread);
  FillAgentStats(&stats);
  EXPECT_EQ(stats.refused_on_fuse(), RefusalCount(Refusal::kOnFuse));
  EXPECT_GE(stats.refused_on_fuse(), 1u);
  EXPECT_EQ(stats.shed_mountinfo_unread(), ShedCount(Shed::kMountinfoUnread));
  EXPECT_EQ(RefusalCounts().at("on_fuse"), RefusalCount(Refusal::kOnFuse));
  EXPECT_EQ(ShedCounts().at("mountinfo_unread"), ShedCount(Shed::kMountinfoUnread));
  EXPECT_EQ(RefusalCounts().size(), static_cast<size_t>(Refusal::kCount));
  EXPECT_EQ(ShedCounts().size(), static_cast<size_t>(Shed::kCount));
}

}  // namespace
}  // namespace stallscope::target_files
