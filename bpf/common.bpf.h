// SPDX-License-Identifier: GPL-2.0
/* What every stallscope BPF header builds on: the kernel types (vmlinux.h), libbpf's helpers,
 * the ABI shared with the agent, the settings the agent sets before load, the maps every program
 * uses (tracked set, threads, events, counters) and the helpers around them. Each *.bpf.h
 * includes what it uses, starting here, so it compiles on its own (bpf/CMakeLists.txt checks). */
#ifndef STALLSCOPE_BPF_COMMON_BPF_H_
#define STALLSCOPE_BPF_COMMON_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "stallscope_abi.h"

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

#endif /* STALLSCOPE_BPF_COMMON_BPF_H_ */
