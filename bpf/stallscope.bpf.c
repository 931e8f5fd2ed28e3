// SPDX-License-Identifier: GPL-2.0
/* stallscope's kernel side: per-thread busy-period accounting for tracked processes.
 *
 * A thread's busy period runs from the return of its wait (epoll_wait & co.) to the entry of
 * the next. While it runs we split its time into on-CPU, blocked and run-queue time, and keep
 * the syscalls that blocked with the fd they used. A period that reaches the
 * threshold is sent to user space when it ends; periods still running are read by the agent
 * straight from the thread map, so a loop hung forever is still reported.
 *
 * Every program first asks "is this process tracked?" (one bit in an array map) and returns
 * otherwise, so the rest of the host pays almost nothing. Only the wait syscalls are hooked
 * (wait_hooks.bpf.h); the syscalls that block inside a period are found at sched_switch. No
 * kprobes: tracepoints, tp_btf and perf_event programs only. Worker pools (pools.bpf.h) and
 * TCP connections and accept queues (sockets.bpf.h) have files of their own.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#include "fd_info.bpf.h"
#include "task_syscall.bpf.h"

/* Worker pools and TCP connections: kernel code of their own, hooked in below by one call each. */
#include "pools.bpf.h"
#include "sockets.bpf.h"

#include "busy_period.bpf.h"

#include "wait_hooks.bpf.h"

/* Blocking syscalls are found here, when they go off CPU, instead of at every syscall's entry
 * and exit: hooking all syscalls puts every task on the host on the kernel's slow syscall path
 * (issue 2's throughput target). A sleeping task's number and arguments are in the user
 * registers saved at kernel entry (task_syscall.bpf.h).
 *
 * prev (still current) blocks: open the syscall it sleeps in, name its fd, keep its stack.
 * A full user stack (bpf_get_stack) costs 0.7-1.5 us here, and nearly every block is short and
 * in a short period (a GIL hand-off, a quick read), so young periods keep only the innermost
 * frame, read from the saved registers; once a period is old enough to be a stall in the making
 * (full_stack_after_ns), its blocks get the whole stack, up to SS_MAX_FULL_STACKS of them.
 * Python frames come from the agent. */
static __always_inline void open_blocking_syscall(void *ctx, struct ss_thread_state *t,
                                                  struct task_struct *prev, __u64 now) {
  long nr;
  struct pt_regs *regs = t->sys_blocked ? NULL : sleeping_syscall_regs(prev, &nr);
  if (!regs) return;
  __u64 user_ip = PT_REGS_IP(regs); /* where the syscall returns to: the innermost user frame */
  __u8 cls = classify(nr);
  int fd = cls != SS_SC_PLAIN ? syscall_fd(cls, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs))
                              : SS_NO_FD;
  t->sys_nr = (__s32)nr;
  t->sys_fd = fd;
  t->sys_slot = slot_for_syscall(t, (__s32)nr, fd);
  t->sys_blocked = 1;
  t->sys_start_ns = now;
  /* Bounded per period too: a sync worker under load stays in one busy period for seconds
   * (it never gets back to select()) and blocks thousands of times in it. */
  if (now - t->busy.start_ns < full_stack_after_ns || t->busy.full_stacks >= SS_MAX_FULL_STACKS) {
    t->sys_stack[0] = user_ip;
    t->sys_stack_len = 1;
    return;
  }
  /* prev is current here, so the user stack is the one at its syscall entry. */
  t->busy.full_stacks += 1;
  long bytes = bpf_get_stack(ctx, t->sys_stack, sizeof(t->sys_stack), BPF_F_USER_STACK);
  if (bytes > 0) {
    t->sys_stack_len = bytes / sizeof(__u64);
  } else {
    t->sys_stack[0] = user_ip;
    t->sys_stack_len = 1;
    count(SS_CNT_STACK_FAILED);
  }
}

/* Scheduler accounting: prev leaves the CPU (blocked or preempted), next gets it. */
SEC("tp_btf/sched_switch")
int BPF_PROG(ss_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
  /* One tracked check and one clock read per side, shared by the busy-period and the pool
   * accounting: this runs on every context switch of the host. */
  bool prev_tracked = is_tracked(prev->tgid), next_tracked = is_tracked(next->tgid);
  if (!prev_tracked && !next_tracked) return 0;
  __u64 now = ss_now_ns();
  if (prev_tracked) {
    pool_note_switch_out(preempt, prev, now);
    bool runnable = preempt || task_state(prev) == 0;
    if (waits_at_switch && !runnable) wait_seen_at_switch(prev);
    struct ss_thread_state *t = lookup_thread(prev->pid);
    __u64 exec = prev->se.sum_exec_runtime;
    if (t && t->in_wait) {
      if (inside_wait(t, prev)) { /* asleep (or preempted) in its wait: note when it left */
        t->off_kind = SS_OFF_IN_WAIT;
        t->last_off_ns = now;
        t->last_off_exec_ns = exec;
        t = NULL;
      } else {
        left_wait_at(t, wait_returned_at_exec(t, now, exec)); /* and leaves the CPU, below */
      }
    }
    if (t && t->busy.start_ns && !t->in_wait) {
      if (t->off_kind != SS_ON_CPU) {
        __u64 back_at = repair_missed_switch_in(t, now, exec);
        if (t->sys_blocked) close_blocking_syscall(t, back_at); /* it returned by then */
      }
      t->busy.on_cpu_ns += now - t->last_on_ns;
      t->last_off_ns = now;
      t->last_off_exec_ns = exec;
      t->off_kind = runnable ? SS_OFF_RUNNABLE : SS_OFF_BLOCKED;
      if (runnable) note_loop_suspect(t, now);
      else open_blocking_syscall(ctx, t, prev, now);
    }
  }
  if (next_tracked) {
    struct ss_thread_state *t = lookup_thread(next->pid);
    if (t && t->in_wait) { /* back in its wait: the wait returns no earlier than this */
      t->off_kind = SS_ON_CPU;
      t->last_on_ns = now;
    } else if (t && t->busy.start_ns && t->off_kind != SS_ON_CPU) {
      back_on_cpu(t, now);
      if (t->sys_blocked) close_blocking_syscall(t, now);
    }
  }
  return 0;
}

static __always_inline void note_wakeup(struct task_struct *p) {
  if (!is_tracked(p->tgid)) return;
  struct ss_thread_state *t = lookup_thread(p->pid);
  if (t && t->off_kind == SS_OFF_BLOCKED) t->wakeup_ns = ss_now_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ss_sched_wakeup, struct task_struct *p) {
  note_wakeup(p);
  pool_note_wakeup(p);
  return 0;
}

/* CPU-bound stalls make no syscalls to take a stack at: sample the user stack late in long
 * periods instead (perf cpu-clock on every CPU, a few dozen Hz). */
SEC("perf_event")
int ss_cpu_sample(struct bpf_perf_event_data *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_tracked(pid_tgid >> 32)) return 0;
  struct ss_thread_state *t = lookup_thread((__u32)pid_tgid);
  if (!t) return 0;
  if (t->in_wait) {
    /* Running outside its wait (a CPU-bound period makes no switch-out to notice it by). */
    if (inside_wait(t, bpf_get_current_task_btf())) return 0;
    left_wait_at(t, wait_returned_at(t, ss_now_ns()));
  }
  if (!t->busy.start_ns) return 0;
  note_loop_suspect(t, ss_now_ns());
  /* Keep the first sample past the mark, not the last: a CPU-bound stall is still in its hot
   * code then, while a last sample can land in the short tail after it (writing the response). */
  if (t->busy.cpu_stack_len) return 0;
  if (ss_now_ns() - t->busy.start_ns < cpu_sample_after_ns) return 0;
  long bytes = bpf_get_stack(ctx, t->busy.cpu_stack, sizeof(t->busy.cpu_stack), BPF_F_USER_STACK);
  if (bytes > 0)
    t->busy.cpu_stack_len = bytes / sizeof(__u64);
  else
    count(SS_CNT_STACK_FAILED);
  return 0;
}

static __always_inline void emit_proc(__u32 type, __u32 tgid, __u32 parent, __u32 child) {
  struct ss_proc_event *e = reserve_event(sizeof(*e), type, tgid, tgid, ss_now_ns());
  if (!e) return;
  e->parent_tgid = parent;
  e->child_tgid = child;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
}

/* Children of tracked processes are tracked from their first instruction (gunicorn and uWSGI
 * fork workers, and respawn them). New threads share the tgid and are tracked already: the
 * agent is told so that pools growing under load (executors, anyio) get their new threads at
 * once rather than at the next rescan. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(ss_process_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 parent_tgid = parent->tgid;
  if (!is_tracked(parent_tgid)) return 0;
  __u32 child_tgid = child->tgid;
  if (child->pid != child_tgid) {
    emit_proc(SS_EV_THREAD_START, child_tgid, parent_tgid, child->pid);
    return 0;
  }
  __u8 one = 1;
  if (bpf_map_update_elem(&tracked_tgids, &child_tgid, &one, BPF_NOEXIST) == -E2BIG) {
    count(SS_CNT_TRACKED_MAP_FULL);
    return 0;
  }
  set_id_bit(&tracked_bitmap, child_tgid);
  emit_proc(SS_EV_PROC_FORK, child_tgid, parent_tgid, child_tgid);
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ss_process_exec, struct task_struct *p) {
  __u32 tgid = p->tgid;
  if (!is_tracked(tgid)) {
    /* A program started: the daemon's discovery judges it now rather than at its next /proc
     * scan (a notification lost to a full ring buffer only delays that to the scan). */
    if (notify_untracked_exec) emit_proc(SS_EV_EXEC_UNTRACKED, tgid, 0, 0);
    return 0;
  }
  emit_proc(SS_EV_PROC_EXEC, tgid, 0, 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ss_process_exit, struct task_struct *p) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
  if (!is_tracked(tgid)) return 0;
  if (pool_note_exit(tid)) emit_proc(SS_EV_MEMBER_EXIT, tgid, 0, tid);
  struct ss_thread_state *t = lookup_thread(tid);
  if (t) {
    __u64 now = ss_now_ns();
    if (t->in_wait && !inside_wait(t, bpf_get_current_task_btf()))
      left_wait_at(t, wait_returned_at(t, now));
    if (!t->in_wait) end_busy_period(t, now, SS_END_THREAD_EXIT, -1, SS_NO_FD);
    bpf_map_delete_elem(&threads, &tid);
    clear_id_bit(&thread_bitmap, tid);
  }
  /* signal->live drops to 0 (before this tracepoint) when the last thread of the group exits,
   * whichever thread that is; the leader may exit first. */
  if (BPF_CORE_READ(p, signal, live.counter) == 0) {
    clear_id_bit(&tracked_bitmap, tgid);
    bpf_map_delete_elem(&tracked_tgids, &tgid);
    emit_proc(SS_EV_PROC_EXIT, tgid, 0, 0);
  }
  return 0;
}
