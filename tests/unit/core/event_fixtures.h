// Builders for recorded kernel records (thread states, stall events) used across core tests.
#ifndef STALLSCOPE_TESTS_UNIT_CORE_EVENT_FIXTURES_H_
#define STALLSCOPE_TESTS_UNIT_CORE_EVENT_FIXTURES_H_

#include <sys/syscall.h>

#include <cstring>

#include "stallscope_abi.h"

namespace stallscope::testing {

constexpr uint64_t kMs = 1'000'000;

inline ss_thread_state ThreadState(uint32_t pid, uint32_t tid) {
  ss_thread_state t{};
  t.tgid = pid;
  t.tid = tid;
  t.sys_nr = -1;
  t.sys_fd = SS_NO_FD;
  t.loop_epfd = 6;
  t.last_wait_nr = SYS_epoll_wait;
  t.last_wait_fd = 6;
  return t;
}

// A thread that left its wait at `start` and is still busy.
inline ss_thread_state BusyThread(uint32_t pid, uint32_t tid, uint64_t start, uint32_t seq) {
  ss_thread_state t = ThreadState(pid, tid);
  t.busy.start_ns = start;
  t.busy.seq = seq;
  t.last_on_ns = start;
  t.off_kind = SS_ON_CPU;
  return t;
}

inline ss_stall_event StallEvent(uint32_t pid, uint32_t tid, uint64_t start, uint64_t end, uint32_t seq) {
  ss_stall_event e{};
  e.hdr.type = SS_EV_STALL;
  e.hdr.tgid = pid;
  e.hdr.tid = tid;
  e.hdr.ts_ns = end;
  std::strncpy(e.comm, "python3", sizeof(e.comm));
  e.end_reason = SS_END_WAIT;
  e.wait_nr = SYS_epoll_wait;
  e.wait_fd = 6;
  e.busy.start_ns = start;
  e.busy.seq = seq;
  return e;
}

inline void AddSlot(ss_busy_period& b, int nr, int fd, uint64_t total, uint32_t count) {
  ss_syscall_slot& s = b.slots[b.nslots++];
  s.nr = nr;
  s.fd = fd;
  s.total_ns = total;
  s.count = count;
}

}  // namespace stallscope::testing

#endif  // STALLSCOPE_TESTS_UNIT_CORE_EVENT_FIXTURES_H_
