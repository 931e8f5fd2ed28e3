#include "bpf/syscall_table.h"

#include <sys/syscall.h>

#include <gtest/gtest.h>

namespace stallscope {
namespace {

TEST(SyscallTable, NamesMatchTheBuildArchitecture) {
  EXPECT_EQ(SyscallName(SYS_read), "read");
  EXPECT_EQ(SyscallName(SYS_epoll_pwait), "epoll_pwait");
  EXPECT_EQ(SyscallNumber("clock_nanosleep"), SYS_clock_nanosleep);
  EXPECT_EQ(SyscallName(100000), "syscall_100000");
  EXPECT_EQ(SyscallNumber("no_such_call"), -1);
}

TEST(SyscallTable, ClassifiesWaitsAndFdCalls) {
  auto table = BuildSyscallClassTable();
  EXPECT_EQ(table[SYS_epoll_pwait], SS_SC_EPOLL_WAIT);
  EXPECT_EQ(table[SYS_ppoll], SS_SC_POLL);
  EXPECT_EQ(table[SYS_pselect6], SS_SC_SELECT);
  EXPECT_EQ(table[SYS_recvfrom], SS_SC_FD);
  EXPECT_EQ(table[SYS_futex], SS_SC_PLAIN);
  EXPECT_EQ(table[SYS_epoll_ctl], SS_SC_EPOLL_CTL);
#ifdef SYS_epoll_wait
  EXPECT_EQ(table[SYS_epoll_wait], SS_SC_EPOLL_WAIT);
  EXPECT_EQ(table[SYS_select], SS_SC_SELECT);
  EXPECT_EQ(table[SYS_poll], SS_SC_POLL);
#endif
}

}  // namespace
}  // namespace stallscope
