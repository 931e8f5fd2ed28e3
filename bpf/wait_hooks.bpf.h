// SPDX-License-Identifier: GPL-2.0
/* The waits that bound busy periods (epoll_wait & co., poll, select) and epoll_ctl, the loop
 * evidence.
 *
 * Entries only: a wait's return is inferred where the thread is next seen outside it
 * (wait_returned_at in busy_period.bpf.h), so each wait on the host runs one program, not two.
 * Two ways in, one logic:
 * - tracepoint/syscalls/sys_enter_<wait> (the default): the kernel dispatches these per
 *   syscall number, so every other syscall on the host never enters a BPF program. They need
 *   tracefs (the agent mounts it when missing).
 * - tp_btf/sys_enter (raw_syscalls): every syscall of every task, for kernels or containers
 *   where tracefs cannot be had. The agent loads one set or the other.
 * Blocking syscalls inside a busy period are not seen here at all: sched_switch finds them. */
#ifndef STALLSCOPE_BPF_WAIT_HOOKS_BPF_H_
#define STALLSCOPE_BPF_WAIT_HOOKS_BPF_H_

#include "common.bpf.h"
#include "busy_period.bpf.h"
#include "fd_info.bpf.h"
#include "pools.bpf.h" /* nr_epoll_wait & co. */
#include "task_syscall.bpf.h"

/* --syscall-hooks sched: no syscall hook at all (see "waits seen by the scheduler" below). */
const volatile bool waits_at_switch = false;
/* A loop thread busy this long with no wait seen becomes a suspect (SS_EV_LOOP_SUSPECT). */
const volatile __u64 arm_after_ns = 12500000ULL;

/* Tgids whose wait uprobes the agent armed and that have not hit since (their first hit tells
 * the agent to disarm). */
SS_ID_BITMAP(armed_bitmap);

/* A thread of a tracked process (current) enters a wait of class cls: its busy period ends. */
static __always_inline void wait_enter(__u64 pid_tgid, __s32 nr, __u8 cls, __u64 arg0,
                                       __u64 arg1) {
  __u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
  struct ss_thread_state *t = get_or_create_thread(tgid, tid);
  if (!t) return;
  /* Epoll waits always bound busy periods (a new epoll fd means a new loop). poll/select do
   * only for threads that never used epoll: in an epoll loop they are nested blocking calls,
   * e.g. Python's poll() on a socket with a timeout, and must not split the stall; sched_switch
   * accounts them like any blocking syscall. */
  bool nested = cls != SS_SC_EPOLL_WAIT && t->loop_epfd >= 0;
  if (nested && !t->in_wait) return;
  __u64 now = ss_now_ns();
  if (t->in_wait) {
    /* Its last wait returned unseen (no exit hooks), and it has run on CPU since: a busy period
     * seen whole here. A short one needs no bookkeeping at all (the common case: most loop
     * iterations are short, and this runs on every one); a long one, or one a nested poll
     * continues, is started now and ended (reported) below or later. */
    __u64 at = wait_returned_at(t, now);
    if (nested || now - at >= block_threshold_ns) left_wait_at(t, at);
  }
  if (nested) return;
  int fd = syscall_fd(cls, arg0, arg1);
  end_busy_period(t, now, SS_END_WAIT, nr, fd);
  if (cls == SS_SC_EPOLL_WAIT) t->loop_epfd = fd;
  t->in_wait = 1;
  t->wait_enter_ns = now;
  t->off_kind = SS_ON_CPU; /* current: on CPU in its wait (also clears a missed switch-in) */
  t->last_on_ns = now;
  t->last_wait_nr = nr;
  t->last_wait_fd = fd;
}

/* epoll_ctl(ADD) of a client connection proves the thread multiplexes connections. */
static __always_inline void epoll_ctl_enter(__u64 pid_tgid, __u64 op, __u64 target_fd) {
  struct ss_thread_state *t = lookup_thread((__u32)pid_tgid);
  if (t && !t->adds_connections && op == EPOLL_CTL_ADD && is_client_connection((int)target_fd))
    t->adds_connections = 1;
}

/* --- per-syscall tracepoints (default) --- */

/* The record of syscalls:sys_enter_* / sys_exit_* (see its format file in tracefs): an 8-byte
 * common header, the syscall number, then the arguments or the return value. */
struct ss_syscall_enter_record {
  __u64 common;
  __s32 nr;
  __u32 _pad;
  __u64 args[6];
};

#define SS_WAIT_TRACEPOINTS(name, cls)                                        \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                 \
  int ss_enter_##name(struct ss_syscall_enter_record *rec) {                  \
    __u64 pid_tgid = bpf_get_current_pid_tgid();                              \
    if (is_tracked(pid_tgid >> 32))                                           \
      wait_enter(pid_tgid, rec->nr, cls, rec->args[0], rec->args[1]);         \
    return 0;                                                                 \
  }

SS_WAIT_TRACEPOINTS(epoll_wait, SS_SC_EPOLL_WAIT)
SS_WAIT_TRACEPOINTS(epoll_pwait, SS_SC_EPOLL_WAIT)
SS_WAIT_TRACEPOINTS(epoll_pwait2, SS_SC_EPOLL_WAIT)
SS_WAIT_TRACEPOINTS(poll, SS_SC_POLL)
SS_WAIT_TRACEPOINTS(ppoll, SS_SC_POLL)
SS_WAIT_TRACEPOINTS(select, SS_SC_SELECT)
SS_WAIT_TRACEPOINTS(pselect6, SS_SC_SELECT)

SEC("tracepoint/syscalls/sys_enter_epoll_ctl")
int ss_enter_epoll_ctl(struct ss_syscall_enter_record *rec) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (is_tracked(pid_tgid >> 32)) epoll_ctl_enter(pid_tgid, rec->args[1], rec->args[2]);
  return 0;
}

/* --- waits seen by the scheduler (--syscall-hooks sched): no syscall hook at all ---
 *
 * Any syscall tracepoint puts every task on the host on the slow syscall path and runs a
 * program per wait of every process; here bystanders pay nothing but the sched_switch check
 * they pay in every mode. A wait that sleeps is seen where it goes to sleep: prev's saved
 * registers hold the syscall and its arguments. A wait that returns at once (events ready,
 * timeout 0) is not seen at all, so a loop busy on back-to-back iterations looks like one long
 * busy period: after arm_after_ns of it (found by the CPU sampler or a preemption), the agent
 * arms uprobes on the libc wait functions of that process only (a uprobe hit costs ~20 us
 * here, so they stay armed until their first hit) and the iteration boundary is seen there. */

/* prev (still current) goes to sleep in a wait syscall: a wait entry, unless it is asleep
 * again in the wait it was already in. */
static __always_inline void wait_seen_at_switch(struct task_struct *prev) {
  long nr;
  struct pt_regs *regs = sleeping_syscall_regs(prev, &nr);
  if (!regs) return;
  __u8 cls = classify(nr);
  if (cls != SS_SC_EPOLL_WAIT && cls != SS_SC_POLL && cls != SS_SC_SELECT) return;
  __u32 tid = prev->pid;
  struct ss_thread_state *t = lookup_thread(tid);
  if (t && t->in_wait && inside_wait(t, prev)) return;
  count(SS_CNT_WAITS_AT_SWITCH);
  wait_enter(((__u64)prev->tgid << 32) | tid, (__s32)nr, cls, PT_REGS_PARM1_SYSCALL(regs),
             PT_REGS_PARM2_SYSCALL(regs));
}

/* t (a thread of an epoll loop) is busy with no wait seen for arm_after_ns: ask once per busy
 * period for its process's wait uprobes. */
static __always_inline void note_loop_suspect(struct ss_thread_state *t, __u64 now) {
  if (!waits_at_switch || t->loop_epfd < 0 || t->suspect_seq == t->busy.seq) return;
  if (now - t->busy.start_ns < arm_after_ns || id_bit(&armed_bitmap, t->tgid)) return;
  t->suspect_seq = t->busy.seq;
  struct ss_event_header *e = reserve_event(sizeof(*e), SS_EV_LOOP_SUSPECT, t->tgid, t->tid, now);
  if (e) bpf_ringbuf_submit(e, 0);
}

/* An armed uprobe at the entry of libc's epoll_wait/epoll_pwait (int epfd, events, ...): the
 * same wait entry as a syscall hook's. The first hit since arming tells the agent. */
static __always_inline void wait_uprobe_hit(__u64 epfd, __u64 events, int nr) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!is_tracked(tgid)) {
    count(SS_CNT_WAIT_UPROBE_HITS_UNTRACKED);
    return;
  }
  count(SS_CNT_WAIT_UPROBE_HITS);
  wait_enter(pid_tgid, nr, SS_SC_EPOLL_WAIT, epfd, events);
  __u32 word = tgid / 64;
  __u64 bit = 1ULL << (tgid % 64);
  __u64 *bits = bpf_map_lookup_elem(&armed_bitmap, &word);
  if (!bits || !(__sync_fetch_and_and(bits, ~bit) & bit)) return;
  struct ss_event_header *e =
      reserve_event(sizeof(*e), SS_EV_WAIT_UPROBE_HIT, tgid, (__u32)pid_tgid, ss_now_ns());
  if (e) bpf_ringbuf_submit(e, 0);
}

SEC("uprobe")
int BPF_KPROBE(ss_uprobe_epoll_wait, int epfd, void *events) {
  /* arm64 has no epoll_wait syscall: glibc's epoll_wait calls epoll_pwait there */
  wait_uprobe_hit((__u64)epfd, (__u64)events, nr_epoll_wait >= 0 ? nr_epoll_wait : nr_epoll_pwait);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(ss_uprobe_epoll_pwait, int epfd, void *events) {
  wait_uprobe_hit((__u64)epfd, (__u64)events, nr_epoll_pwait);
  return 0;
}

/* --- raw_syscalls fallback: every syscall of every task --- */

/* Arguments are read with PT_REGS_PARMn_SYSCALL, not the _CORE_ variants: in tp_btf programs
 * `regs` is a BTF-typed pointer, so on x86 these are direct loads the verifier turns into inline
 * probe loads instead of a bpf_probe_read_kernel call per argument. */
SEC("tp_btf/sys_enter")
int BPF_PROG(ss_sys_enter, struct pt_regs *regs, long id) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_tracked(pid_tgid >> 32)) return 0;
  __u8 cls = classify(id);
  if (cls == SS_SC_EPOLL_WAIT || cls == SS_SC_POLL || cls == SS_SC_SELECT)
    wait_enter(pid_tgid, id, cls, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs));
  else if (cls == SS_SC_EPOLL_CTL)
    epoll_ctl_enter(pid_tgid, PT_REGS_PARM2_SYSCALL(regs), PT_REGS_PARM3_SYSCALL(regs));
  return 0;
}

#endif /* STALLSCOPE_BPF_WAIT_HOOKS_BPF_H_ */
