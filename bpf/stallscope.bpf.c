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
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "stallscope_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFIFO 0010000
#define AF_UNIX 1
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define TCP_LISTEN 10
#define EPOLL_CTL_ADD 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define E2BIG 7
#define EEXIST 17

/* The probes' clock: CLOCK_MONOTONIC (the agent converts it to Unix time). Not the boot clock:
 * bpf_ktime_get_boot_ns measured 66 ns per call at sched_switch on our 6.18 machines against 29
 * for bpf_ktime_get_ns, and every hot program reads the clock. */
#define ss_now_ns() bpf_ktime_get_ns()

/* Set by the agent before load. */
const volatile __u64 block_threshold_ns = 100000000ULL;
const volatile __u64 cpu_sample_after_ns = 50000000ULL;  /* sample stacks once a period is this old */
const volatile __u64 full_stack_after_ns = 25000000ULL;  /* whole stacks of blocks from this age */
const volatile __u8 syscall_class[SS_SYSCALL_TABLE_SIZE] = {};
const volatile __u8 notify_untracked_exec = 0;  /* stallscope daemon: report execs of untracked processes */

/* Set by the agent while the accept exits are hooked. With --syscall-hooks sched they are hooked
 * only while a tracked pool is saturated (any syscall tracepoint makes every process on the
 * host pay on every syscall), so the accept-queue depth is counted only then: a connection
 * counted carries SS_SOCK_QUEUE_COUNTED and is uncounted once, at its accept or its close. */
volatile bool accept_hooks_on = true;

/* The tracked processes, bounded by --max-processes: the authoritative set. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);  /* tgid */
  __type(value, __u8);
} tracked_tgids SEC(".maps");

/* A bit per pid/tid, as an array of 64-bit words: an array lookup is inlined by the verifier
 * (no hashing). Mmapable so the agent sets and clears bits with atomic operations that cannot
 * race the kernel's own. */
#define SS_ID_BITMAP(name)                            \
  struct {                                            \
    __uint(type, BPF_MAP_TYPE_ARRAY);                 \
    __uint(max_entries, SS_TGID_BITMAP_WORDS);        \
    __uint(map_flags, BPF_F_MMAPABLE);                \
    __type(key, __u32);                               \
    __type(value, __u64);                             \
  } name SEC(".maps")

/* The tracked set by tgid, for the check every program makes on every event of every process on
 * the host: most of what an untracked process pays. */
SS_ID_BITMAP(tracked_bitmap);

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);  /* tid */
  __type(value, struct ss_thread_state);
} threads SEC(".maps");

/* Bit per tid: set while the tid may have an entry in `threads` (resp. `pool_members`, in
 * pools.bpf.h). Most tracked threads have no entry in one or the other (pool workers that never
 * poll, event loops that are not pool members), and a failed hash lookup costs ~35 ns on every
 * context switch and wakeup; an inlined bit test costs a load. Set before an entry is inserted
 * and cleared after it is deleted, so a clear bit always means no entry (the agent seeds threads
 * and adds pool members the same way). */
SS_ID_BITMAP(thread_bitmap);

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SS_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* A zeroed thread state to insert from: too large for the 512-byte BPF stack. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ss_thread_state);
} zero_state SEC(".maps");

static __always_inline void count(__u32 idx) {
  __u64 *c = bpf_map_lookup_elem(&counters, &idx);
  if (c) *c += 1; /* per-CPU slot: no atomic needed */
}

/* Reserves a ring-buffer event of `size` bytes (every event starts with its ss_event_header) and
 * fills the header; NULL (counted) when the buffer is full. */
static __always_inline void *reserve_event(__u64 size, __u32 type, __u32 tgid, __u32 tid,
                                           __u64 ts_ns) {
  struct ss_event_header *h = bpf_ringbuf_reserve(&events, size, 0);
  if (!h) {
    count(SS_CNT_RINGBUF_FULL);
    return NULL;
  }
  h->type = type;
  h->tgid = tgid;
  h->tid = tid;
  h->_pad = 0;
  h->ts_ns = ts_ns;
  return h;
}

static __always_inline bool id_bit(void *bitmap, __u32 id) {
  __u32 word = id / 64;
  __u64 *bits = bpf_map_lookup_elem(bitmap, &word);
  return bits && ((*bits >> (id % 64)) & 1);
}

static __always_inline void set_id_bit(void *bitmap, __u32 id) {
  __u32 word = id / 64;
  __u64 *bits = bpf_map_lookup_elem(bitmap, &word);
  if (bits) __sync_fetch_and_or(bits, 1ULL << (id % 64));
}

static __always_inline void clear_id_bit(void *bitmap, __u32 id) {
  __u32 word = id / 64;
  __u64 *bits = bpf_map_lookup_elem(bitmap, &word);
  if (bits) __sync_fetch_and_and(bits, ~(1ULL << (id % 64)));
}

static __always_inline bool is_tracked(__u32 tgid) { return id_bit(&tracked_bitmap, tgid); }

static __always_inline __u8 classify(long nr) {
  if (nr < 0 || nr >= SS_SYSCALL_TABLE_SIZE) return SS_SC_PLAIN;
  return syscall_class[nr];
}

/* task_struct::state became __state in 5.14 (commit 2f064a59a11f); read whichever exists. */
struct task_struct___pre514 {
  volatile long state;
} __attribute__((preserve_access_index));

/* t is a BTF pointer (a tp_btf argument): direct loads, not BPF_CORE_READ, whose
 * bpf_probe_read_kernel call measured 43 ns at sched_switch. */
static __always_inline long task_state(struct task_struct *t) {
  if (bpf_core_field_exists(t->__state)) return t->__state;
  return ((struct task_struct___pre514 *)t)->state;
}

static __always_inline struct ss_thread_state *lookup_thread(__u32 tid) {
  return id_bit(&thread_bitmap, tid) ? bpf_map_lookup_elem(&threads, &tid) : NULL;
}

/* Thread states are created on the thread's first wait: threads that never wait (pool workers
 * blocked on a queue) cost one failed lookup and no memory. */
static __always_inline struct ss_thread_state *get_or_create_thread(__u32 tgid, __u32 tid) {
  struct ss_thread_state *t = lookup_thread(tid);
  if (t) return t;
  __u32 zero = 0;
  struct ss_thread_state *init = bpf_map_lookup_elem(&zero_state, &zero);
  if (!init) return NULL;
  init->tgid = tgid;
  init->tid = tid;
  init->sys_nr = -1;
  init->sys_fd = SS_NO_FD;
  init->loop_epfd = -1;
  init->last_wait_nr = -1;
  init->last_wait_fd = SS_NO_FD;
  set_id_bit(&thread_bitmap, tid);
  long err = bpf_map_update_elem(&threads, &tid, init, BPF_NOEXIST);
  if (err == -E2BIG) {
    count(SS_CNT_THREAD_MAP_FULL);
    return NULL;
  }
  return bpf_map_lookup_elem(&threads, &tid); /* ours, or the agent's seed (-EEXIST) */
}

/* The fd a syscall is about, from its first two arguments. poll/select take arrays in user
 * memory: we read the first entry only, which is the socket for Python's poll()-based socket
 * timeouts. User memory is read for the current task only (its own syscall, or prev at
 * sched_switch, which is still current there). */
static __always_inline int syscall_fd(__u8 cls, __u64 arg0, __u64 arg1) {
  if (cls == SS_SC_FD || cls == SS_SC_EPOLL_WAIT || cls == SS_SC_EPOLL_CTL) return (int)arg0;
  if (cls == SS_SC_POLL) {
    struct pollfd first = {};
    if (arg1 < 1 || bpf_probe_read_user(&first, sizeof(first), (void *)arg0)) return SS_NO_FD;
    return first.fd;
  }
  if (cls == SS_SC_SELECT) {
    __u64 low_bits = 0;
    void *readfds = (void *)arg1;
    if (!readfds || bpf_probe_read_user(&low_bits, sizeof(low_bits), readfds) || !low_bits)
      return SS_NO_FD;
    /* no __builtin_ctzll: the BPF backend of clang 14 crashes on it (BPF has no ctz) */
    for (int i = 0; i < 64; i++)
      if (low_bits & (1ULL << i)) return i;
  }
  return SS_NO_FD;
}

#include "fd_info.bpf.h"
#include "task_syscall.bpf.h"

/* Worker pools and TCP connections: kernel code of their own, hooked in below by one call each. */
#include "pools.bpf.h"
#include "sockets.bpf.h"

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
