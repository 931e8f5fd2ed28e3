// Where the armed uprobes go: libc's epoll_wait / epoll_pwait in a live process, found through
// the target-files door, must be the very bytes the process runs.
#include "attach/wait_uprobe_arming.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "symbolize/proc_maps.h"

namespace stallscope {
namespace {

// The file offset of `address` in the object mapped there in this process.
std::optional<uint64_t> FileOffsetOf(const void* address) {
  absl::StatusOr<std::vector<symbolize::MemoryMapping>> maps =
      symbolize::ReadProcMaps("/proc", getpid());
  if (!maps.ok()) return std::nullopt;
  uint64_t at = reinterpret_cast<uint64_t>(address);
  for (const symbolize::MemoryMapping& m : *maps)
    if (m.Contains(at)) return m.offset + (at - m.start);
  return std::nullopt;
}

TEST(FindWaitFunctions, NamesTheBytesThisProcessRunsForEpollWait) {
  // Resolved by the dynamic linker, as the process itself calls them.
  void* epoll_wait_at = dlsym(RTLD_DEFAULT, "epoll_wait");
  void* epoll_pwait_at = dlsym(RTLD_DEFAULT, "epoll_pwait");
  ASSERT_NE(epoll_wait_at, nullptr);
  ASSERT_NE(epoll_pwait_at, nullptr);

  std::optional<WaitFunctions> found = FindWaitFunctions("/proc", getpid());
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->epoll_wait, FileOffsetOf(epoll_wait_at).value_or(0));
  EXPECT_EQ(found->epoll_pwait, FileOffsetOf(epoll_pwait_at).value_or(0));
  EXPECT_NE(found->epoll_wait, found->epoll_pwait);
  EXPECT_LT(found->map_start, found->map_end);
}

TEST(FindWaitFunctions, NothingForAProcessThatIsGone) {
  EXPECT_FALSE(FindWaitFunctions("/proc", 0x3ffffff0).has_value());
}

TEST(FindWaitFunctions, NothingWithoutLibc) {
  // A fake proc root whose maps list no libc: nothing to attach to, and no error.
  char dir[] = "/tmp/stallscope-waitfn-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string pid_dir = std::string(dir) + "/42";
  ASSERT_EQ(mkdir(pid_dir.c_str(), 0755), 0);
  FILE* maps = fopen((pid_dir + "/maps").c_str(), "w");
  ASSERT_NE(maps, nullptr);
  fputs("00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/static-server\n", maps);
  fclose(maps);
  EXPECT_FALSE(FindWaitFunctions(dir, 42).has_value());
  unlink((pid_dir + "/maps").c_str());
  rmdir(pid_dir.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace stallscope
