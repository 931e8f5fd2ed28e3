// SPDX-License-Identifier: GPL-2.0
/* Busy-period accounting: the slots of the syscalls that blocked, the stall events, and the
 * on-CPU / blocked / run-queue split, opened and closed by the wait hooks (wait_hooks.bpf.h) and
 * the scheduler programs (stallscope.bpf.c). */
#ifndef STALLSCOPE_BPF_BUSY_PERIOD_BPF_H_
#define STALLSCOPE_BPF_BUSY_PERIOD_BPF_H_

#include "common.bpf.h"
#include "fd_info.bpf.h"
#include "task_syscall.bpf.h"

/* The period's slot for (nr, fd), created on first use (the fd is described then, while it is
 * open and its task is current). SS_SLOT_OTHER when all slots are taken. */
static __always_inline __s32 slot_for_syscall(struct ss_thread_state *t, __s32 nr, __s32 fd) {
  struct ss_busy_period *b = &t->busy;
  __u32 n = b->nslots;
  for (int i = 0; i < SS_MAX_SYSCALL_SLOTS; i++) {
    if (i >= n) break;
    if (b->slots[i].nr == nr && b->slots[i].fd == fd) return i;
  }
  if (n >= SS_MAX_SYSCALL_SLOTS) return SS_SLOT_OTHER;
  struct ss_syscall_slot *slot = &b->slots[n];
  slot->nr = nr;
  slot->fd = fd;
  slot->total_ns = 0;
  slot->count = 0;
  slot->file_kind = SS_FILE_UNKNOWN;
  __builtin_memset(&slot->sock, 0, sizeof(slot->sock));
  if (fd >= 0) describe_fd(fd, slot);
  b->nslots = n + 1;
  return n;
}

/* Adds a blocked stretch of the in-flight syscall to its slot. */
static __always_inline void add_to_slot(struct ss_thread_state *t, __u64 dur) {
  struct ss_busy_period *b = &t->busy;
  __s32 i = t->sys_slot;
  if (i >= 0 && i < SS_MAX_SYSCALL_SLOTS) {
    b->slots[i].total_ns += dur;
    b->slots[i].count += 1;
  } else {
    b->other_ns += dur;
    b->other_count += 1;
  }
}

static __always_inline void emit_stall(struct ss_thread_state *t, __u64 now, __u32 reason,
                                       int wait_nr, int wait_fd) {
  struct ss_stall_event *e = reserve_event(sizeof(*e), SS_EV_STALL, t->tgid, t->tid, now);
  if (!e) return;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  e->end_reason = reason;
  e->wait_nr = wait_nr;
  e->wait_fd = wait_fd;
  e->flags = t->adds_connections ? SS_STALL_F_ADDS_CONNECTIONS : 0;
  /* One helper call instead of an unrolled ~1 KiB copy the verifier would walk. */
  bpf_probe_read_kernel(&e->busy, sizeof(e->busy), &t->busy);
  bpf_ringbuf_submit(e, 0);
  count(SS_CNT_STALLS_EMITTED);
}

/* The task runs again: its syscall returns within microseconds. Counted from the first block
 * to here, so a call that blocks several times counts once per block, with its whole time. */
static __always_inline void close_blocking_syscall(struct ss_thread_state *t, __u64 now) {
  __u64 dur = now - t->sys_start_ns;
  add_to_slot(t, dur);
  if (dur > t->busy.longest_block_ns) {
    t->busy.longest_block_ns = dur;
    __u32 len = t->sys_stack_len;
    if (len > SS_STACK_DEPTH) len = SS_STACK_DEPTH;
    bpf_probe_read_kernel(t->busy.block_stack, sizeof(t->busy.block_stack), t->sys_stack);
    t->busy.block_stack_len = len;
  }
  t->sys_blocked = 0;
  t->sys_nr = -1;
}

/* The thread got a CPU again at `at`: the time since it left goes to the wait it was in
 * (blocked until its wakeup, then the run queue; or the run queue alone if it was preempted). */
static __always_inline void back_on_cpu(struct ss_thread_state *t, __u64 at) {
  if (t->off_kind == SS_OFF_BLOCKED && t->wakeup_ns > t->last_off_ns && t->wakeup_ns <= at) {
    t->busy.off_cpu_ns += t->wakeup_ns - t->last_off_ns;
    t->busy.runq_ns += at - t->wakeup_ns;
  } else if (t->off_kind == SS_OFF_BLOCKED) {
    t->busy.off_cpu_ns += at - t->last_off_ns;
  } else {
    t->busy.runq_ns += at - t->last_off_ns;
  }
  t->off_kind = SS_ON_CPU;
  t->last_on_ns = at;
}

/* The thread runs at `now` though the last sched_switch we saw took it off the CPU: the kernel
 * switched it back in without a sched_switch event reaching us (seen on 6.18 guests for tasks
 * preempted by some threads: neither our tp_btf program nor a perf tracepoint program saw the
 * switch-in, and bpf_stats counted no recursion miss). The scheduler's own clock of the task,
 * se.sum_exec_runtime, says how long it ran since it left: that much is on-CPU time, the rest of
 * the gap is the wait it was in. `exec_now` is read at `now` (exact at a switch-out, where the
 * scheduler has just updated it; up to a tick behind when read from the running task). */
static __always_inline __u64 unseen_switch_in_at(struct ss_thread_state *t, __u64 now,
                                                  __u64 exec_now) {
  __u64 gap = now - t->last_off_ns;
  __u64 ran = t->last_off_exec_ns && exec_now > t->last_off_exec_ns ? exec_now - t->last_off_exec_ns : 0;
  count(SS_CNT_SWITCH_IN_UNSEEN);
  return now - (ran < gap ? ran : gap); /* the latest it can have been switched in */
}

/* At a switch-out or a wait entry of such a thread: credit that run as on-CPU time and the rest
 * of the gap to the wait it was in. */
static __always_inline __u64 repair_missed_switch_in(struct ss_thread_state *t, __u64 now,
                                                     __u64 exec_now) {
  __u64 back_at = unseen_switch_in_at(t, now, exec_now);
  t->busy.on_cpu_ns += now - back_at;
  back_on_cpu(t, back_at);
  t->last_on_ns = now; /* the time since back_at is counted already */
  return back_at;
}

/* The thread (on CPU, as current) leaves its busy period: report it if it was long. */
static __always_inline void end_busy_period(struct ss_thread_state *t, __u64 now, __u32 reason,
                                            int wait_nr, int wait_fd) {
  if (!t->busy.start_ns) return;
  if (t->off_kind != SS_ON_CPU) {
    __u64 back_at = repair_missed_switch_in(t, now, bpf_get_current_task_btf()->se.sum_exec_runtime);
    if (t->sys_blocked) close_blocking_syscall(t, back_at);
  }
  if (t->last_on_ns) t->busy.on_cpu_ns += now - t->last_on_ns;
  if (now - t->busy.start_ns >= block_threshold_ns) emit_stall(t, now, reason, wait_nr, wait_fd);
  t->busy.start_ns = 0;
}

static __always_inline void start_busy_period(struct ss_thread_state *t, __u64 now) {
  struct ss_busy_period *b = &t->busy;
  b->start_ns = now;
  b->on_cpu_ns = 0;
  b->off_cpu_ns = 0;
  b->runq_ns = 0;
  b->other_ns = 0;
  b->other_count = 0;
  b->nslots = 0;
  b->longest_block_ns = 0;
  b->block_stack_len = 0;
  b->cpu_stack_len = 0;
  b->full_stacks = 0;
  b->seq += 1;
  t->off_kind = SS_ON_CPU;
  t->last_on_ns = now;
  t->sys_nr = -1;
  t->sys_blocked = 0;
}

/* No program runs at wait exits: each would cost every epoll_wait on the host a second
 * per-syscall tracepoint dispatch and program (~100 ns end to end here, untracked ones too). A
 * wait's return is inferred where the thread is next seen outside it: its next wait entry, a
 * switch-out in another syscall or in user mode, a CPU sample. It returned when it last got a
 * CPU inside the wait (woken), or at the wait's entry if it never slept there: microseconds
 * from the true return either way. If the kernel never reported that switch-in (see
 * repair_missed_switch_in), the scheduler's clock of the task bounds it instead: the latest it
 * can have got the CPU back. */
static __always_inline __u64 wait_returned_at_exec(struct ss_thread_state *t, __u64 now,
                                                   __u64 exec_now) {
  __u64 at = t->off_kind != SS_ON_CPU ? unseen_switch_in_at(t, now, exec_now)
             : t->last_on_ns > t->wait_enter_ns ? t->last_on_ns : t->wait_enter_ns;
  return at && at <= now ? at : now; /* a thread the agent seeded in its wait has no times */
}

/* The same for the current task, whose scheduler clock is read only if needed. */
static __always_inline __u64 wait_returned_at(struct ss_thread_state *t, __u64 now) {
  __u64 exec = t->off_kind != SS_ON_CPU ? bpf_get_current_task_btf()->se.sum_exec_runtime : 0;
  return wait_returned_at_exec(t, now, exec);
}

/* The thread is seen outside its wait: the busy period that began at its return, `at`. */
static __always_inline void left_wait_at(struct ss_thread_state *t, __u64 at) {
  t->in_wait = 0;
  start_busy_period(t, at);
}

/* Whether task (prev at a switch-out, or current) is still inside the wait t last entered:
 * the syscall its saved registers hold is that wait (on the same epoll fd). In user mode, or in
 * any other syscall, it has returned. */
static __always_inline bool inside_wait(struct ss_thread_state *t, struct task_struct *task) {
  long nr;
  struct pt_regs *regs = sleeping_syscall_regs(task, &nr);
  if (!regs || nr != t->last_wait_nr) return false;
  return classify(nr) != SS_SC_EPOLL_WAIT || (int)PT_REGS_PARM1_SYSCALL(regs) == t->last_wait_fd;
}

#endif /* STALLSCOPE_BPF_BUSY_PERIOD_BPF_H_ */
