// SPDX-License-Identifier: GPL-2.0
/* The waits that bound busy periods (epoll_wait & co., poll, select) and epoll_ctl, the loop
 * evidence. Included by stallscope.bpf.c after the busy-period helpers.
 *
 * Entries only: a wait's return is inferred where the thread is next seen outside it
 * (wait_returned_at in stallscope.bpf.c), so each wait on the host runs one program, not two.
 * Two ways in, one logic:
 * - tracepoint/syscalls/sys_enter_<wait> (the default): the kernel dispatches these per
 *   syscall number, so every other syscall on the host never enters a BPF program. They need
 *   tracefs (the agent mounts it when missing).
 * - tp_btf/sys_enter (raw_syscalls): every syscall of every task, for kernels or containers
 *   where tracefs cannot be had. The agent loads one set or the other.
 * Blocking syscalls inside a busy period are not seen here at all: sched_switch finds them. */
#ifndef STALLSCOPE_BPF_WAIT_HOOKS_BPF_H_
#define STALLSCOPE_BPF_WAIT_HOOKS_BPF_H_

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
