/* Worker pools: busy/idle members counted in the kernel, saturation noted at its transitions.
 *
 * The agent finds the members (threads sitting in their idle wait) and writes them into
 * pool_members with how their idle wait looks. From then on the scheduler hooks decide:
 *   - a busy member that blocks (sched_switch, not preempted) inside its idle wait goes idle;
 *   - an idle member that is woken (sched_wakeup) goes busy: work arrived.
 * The syscall a blocked task sits in is read from its saved user registers, so no per-syscall
 * program is needed. Per pool the kernel keeps the busy count and the start of the current
 * saturation (busy == size); a saturation that lasted >= the threshold is sent when it ends (at
 * the next transition after its idle gap outlasted the grace; the agent finalises it itself if
 * none comes), and the agent reads ongoing ones from the mmapped pool array. One event per saturation, none per
 * request. */
#ifndef STALLSCOPE_POOLS_BPF_H_
#define STALLSCOPE_POOLS_BPF_H_

#include "common.bpf.h"
#include "task_syscall.bpf.h"

#define FUTEX_WAIT 0
#define FUTEX_WAIT_BITSET 9
#define FUTEX_CMD_MASK 0x7f /* without FUTEX_PRIVATE_FLAG (128) / FUTEX_CLOCK_REALTIME (256) */

const volatile __u64 saturation_threshold_ns = 100000000ULL;
/* Syscall numbers of the build architecture, set by the agent (SYS_* of its own headers). */
const volatile int nr_futex = -1, nr_accept = -1, nr_accept4 = -1, nr_select = -1,
                   nr_pselect6 = -1, nr_poll = -1, nr_ppoll = -1, nr_epoll_wait = -1,
                   nr_epoll_pwait = -1, nr_epoll_pwait2 = -1;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32); /* tid */
  __type(value, struct ss_pool_member);
} pool_members SEC(".maps");

/* Bit per tid that may be in pool_members (see thread_bitmap in common.bpf.h). */
SS_ID_BITMAP(member_bitmap);

static __always_inline struct ss_pool_member *lookup_member(__u32 tid) {
  return id_bit(&member_bitmap, tid) ? bpf_map_lookup_elem(&pool_members, &tid) : NULL;
}

/* Mmapable so the agent reads ongoing saturations and busy counts without a syscall per pool. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SS_MAX_POOLS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ss_pool);
} pools SEC(".maps");

/* Listening ports of tracked processes (filled by the agent): port -> slot in `listeners`, an
 * mmapable array so the agent resets peaks in place without racing the kernel's counters.
 * Defined here because pools read their accept-queue depth. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SS_MAX_LISTENERS);
  __type(key, __u32); /* local port */
  __type(value, __u32); /* slot */
} listen_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SS_MAX_LISTENERS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ss_listener);
} listeners SEC(".maps");

static __always_inline struct ss_listener *listener_on_port(__u32 port) {
  __u32 *slot = port ? bpf_map_lookup_elem(&listen_ports, &port) : NULL;
  return slot ? bpf_map_lookup_elem(&listeners, slot) : NULL;
}

/* Is fd set in the first word of a user fd_set? Pool listeners are low fds (< 64). */
static __always_inline bool fd_set_has(unsigned long user_set, int fd) {
  __u64 word = 0;
  if (!user_set || fd < 0 || fd >= 64) return false;
  if (bpf_probe_read_user(&word, sizeof(word), (void *)user_set)) return false;
  return (word >> fd) & 1;
}

/* Does the blocked task sit in its idle wait? Read from the user registers saved at syscall
 * entry: prev is still current at sched_switch, so its fd_set/pollfd in user memory is
 * readable too. */
static __always_inline bool in_idle_wait(struct task_struct *task,
                                         const struct ss_pool_member *m) {
  long nr;
  struct pt_regs *regs = sleeping_syscall_regs(task, &nr);
  if (!regs) return false;
  if ((m->idle_flags & SS_IDLE_FUTEX) && nr == nr_futex) {
    /* queue.get()/Lock.acquire() without timeout and pthread mutexes wait with no timeout;
     * CPython's GIL waits are timed (5 ms interval), so they stay busy. */
    int cmd = PT_REGS_PARM2_SYSCALL(regs) & FUTEX_CMD_MASK;
    if (m->idle_uaddr && PT_REGS_PARM1_SYSCALL(regs) != m->idle_uaddr) return false;
    return (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) && !PT_REGS_PARM4_SYSCALL(regs);
  }
  if (!(m->idle_flags & SS_IDLE_LISTENER)) return false;
  int fd = m->idle_fd;
  /* idle_fd -1: any epoll/accept (uWSGI threads each wait on an epoll instance of their own). */
  if (nr == nr_accept || nr == nr_accept4 || nr == nr_epoll_wait || nr == nr_epoll_pwait ||
      nr == nr_epoll_pwait2)
    return fd < 0 || (int)PT_REGS_PARM1_SYSCALL(regs) == fd;
  if (nr == nr_select || nr == nr_pselect6)
    return fd_set_has(PT_REGS_PARM2_SYSCALL(regs), fd);
  if (nr == nr_poll || nr == nr_ppoll) {
    struct pollfd first = {};
    if (bpf_probe_read_user(&first, sizeof(first), (void *)PT_REGS_PARM1_SYSCALL(regs)))
      return false;
    return first.fd == fd;
  }
  return false;
}

static __always_inline struct ss_pool *pool_of(const struct ss_pool_member *m) {
  __u32 id = m->pool_id;
  return bpf_map_lookup_elem(&pools, &id);
}

static __always_inline void emit_saturation(__u32 pool_id, struct ss_pool *p, __u64 start,
                                            __u64 now) {
  struct ss_pool_event *e = reserve_event(sizeof(*e), SS_EV_POOL_SATURATION, 0, 0, now);
  if (!e) return;
  e->pool_id = pool_id;
  e->seq = p->sat_seq;
  e->start_ns = start;
  e->max_queued = p->sat_max_queued;
  e->accepts = p->sat_accepts;
  e->accept_wait_sum_ns = p->sat_accept_wait_sum_ns;
  e->accept_wait_max_ns = p->sat_accept_wait_max_ns;
  e->on_cpu_ns = p->sat_on_cpu_ns;
  bpf_ringbuf_submit(e, 0);
}

static __always_inline __u32 listener_queued(__u32 port) {
  struct ss_listener *l = listener_on_port(port);
  return l ? l->queued : 0;
}

/* The saturation ended at `end` (the start of the idle gap that outlasted the grace). */
static __always_inline void end_saturation(__u32 pool_id, struct ss_pool *p, __u64 end) {
  __u64 start = p->sat_start_ns;
  p->sat_start_ns = 0;
  p->sat_gap_ns = 0;
  if (start && end - start >= saturation_threshold_ns) emit_saturation(pool_id, p, start, end);
}

static __always_inline void start_saturation(struct ss_pool *p, __u64 now) {
  p->sat_seq += 1;
  p->sat_max_queued = listener_queued(p->listen_port);
  p->sat_accepts = 0;
  p->sat_accept_wait_sum_ns = 0;
  p->sat_accept_wait_max_ns = 0;
  p->sat_gap_ns = 0;
  p->sat_on_cpu_ns = 0;
  p->sat_start_ns = now;
  /* Requests start queueing now: ask for the accept exits at once rather than at the agent's
   * next scan (a connection accepted before they are hooked has no accept wait). */
  if (!accept_hooks_on) {
    struct ss_event_header *e = reserve_event(sizeof(*e), SS_EV_ACCEPT_HOOKS_WANTED, 0, 0, now);
    if (e) bpf_ringbuf_submit(e, 0);
  }
}

static __always_inline void member_went_busy(struct ss_pool_member *m, __u64 now) {
  struct ss_pool *p = pool_of(m);
  m->busy = 1;
  m->since_ns = now;
  m->wakeups += 1;
  if (!p) return;
  __u32 busy = __sync_add_and_fetch(&p->busy, 1);
  if (busy > p->peak_busy) p->peak_busy = busy; /* racy max: a peak, not an invariant */
  if (p->sat_start_ns && p->sat_gap_ns) {
    if (now - p->sat_gap_ns > SS_SATURATION_GAP_NS)
      end_saturation(m->pool_id, p, p->sat_gap_ns);
    else if (p->size && busy >= p->size)
      p->sat_gap_ns = 0; /* full again within the grace: the same saturation */
  }
  if (p->size && busy >= p->size && !p->sat_start_ns) start_saturation(p, now);
}

static __always_inline void member_went_idle(struct ss_pool_member *m, __u64 now) {
  struct ss_pool *p = pool_of(m);
  m->busy = 0;
  m->busy_ns += now - m->since_ns;
  m->since_ns = now;
  if (!p) return;
  if (p->busy) __sync_fetch_and_sub(&p->busy, 1);
  if (!p->sat_start_ns) return;
  if (!p->sat_gap_ns)
    p->sat_gap_ns = now;
  else if (now - p->sat_gap_ns > SS_SATURATION_GAP_NS)
    end_saturation(m->pool_id, p, p->sat_gap_ns);
}

/* A member leaves the CPU: its on-CPU time counts towards the ongoing saturation (what the busy
 * members were doing: computing, or waiting). How long it ran since it last left is the growth
 * of the scheduler's own clock of the task (se.sum_exec_runtime, just updated at `exec`), so
 * switch-ins need no program work for members at all (one hash lookup fewer per switch). */
static __always_inline void member_off_cpu(struct ss_pool_member *m, __u64 now, __u64 exec) {
  __u64 last = m->last_off_exec_ns;
  m->last_off_exec_ns = exec;
  struct ss_pool *p = last ? pool_of(m) : NULL;
  if (!p || !p->sat_start_ns || p->sat_gap_ns || exec <= last) return;
  __u64 ran = exec - last, in_saturation = now - p->sat_start_ns;
  p->sat_on_cpu_ns += ran < in_saturation ? ran : in_saturation;
}

/* From sched_switch, for a tracked prev leaving the CPU at `now`. */
static __always_inline void pool_note_switch_out(bool preempt, struct task_struct *prev, __u64 now) {
  __u32 tid = prev->pid;
  struct ss_pool_member *m = lookup_member(tid);
  if (!m) return;
  member_off_cpu(m, now, prev->se.sum_exec_runtime);
  if (!m->busy) return;
  /* Members the agent added busy (threads of a pool that grew under load) fill a pool without
   * a wakeup: the first busy member to leave a CPU after that notices. */
  struct ss_pool *p = pool_of(m);
  if (p && p->size && p->busy >= p->size && !p->sat_start_ns) start_saturation(p, now);
  if (preempt || task_state(prev) == 0) return;
  if (in_idle_wait(prev, m)) member_went_idle(m, now);
}

/* From sched_wakeup: an idle member woken has work (or its wait timed out: then it blocks in
 * the same wait again within microseconds, too short to matter for a saturation). */
static __always_inline void pool_note_wakeup(struct task_struct *p) {
  if (!is_tracked(p->tgid)) return;
  __u32 tid = p->pid;
  struct ss_pool_member *m = lookup_member(tid);
  if (m && !m->busy) member_went_busy(m, ss_now_ns());
}

/* From sched_process_exit: a member that exits leaves the busy count; true for a member (the
 * agent is told, to recompute the pool's ceiling). */
static __always_inline bool pool_note_exit(__u32 tid) {
  struct ss_pool_member *m = lookup_member(tid);
  if (!m) return false;
  if (m->busy) member_went_idle(m, ss_now_ns());
  bpf_map_delete_elem(&pool_members, &tid);
  clear_id_bit(&member_bitmap, tid);
  return true;
}

#endif /* STALLSCOPE_POOLS_BPF_H_ */
