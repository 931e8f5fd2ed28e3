/* Shared by the BPF programs and the agent: plain structs with fixed-width fields only,
 * so both compilers lay them out identically. Change it on both sides at once. */
#ifndef STALLSCOPE_BPF_ABI_H_
#define STALLSCOPE_BPF_ABI_H_

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SS_COMM_LEN 16
#define SS_MAX_SYSCALL_SLOTS 6   /* distinct (syscall, fd) pairs kept per busy period */
#define SS_SYSCALL_TABLE_SIZE 512
#define SS_STACK_DEPTH 32        /* user frames kept per stack */
#define SS_MAX_FULL_STACKS 16    /* whole user stacks taken at blocks per busy period */
#define SS_NO_FD (-1)
#define SS_SLOT_OTHER (-1)  /* a blocking syscall that found no free slot */
/* Tracked-process bitmap: one bit per possible tgid (PID_MAX_LIMIT on 64-bit, 4M = 512 KiB). */
#define SS_PID_MAX_LIMIT (4u * 1024u * 1024u)
#define SS_TGID_BITMAP_WORDS (SS_PID_MAX_LIMIT / 64u)

/* How a syscall number is treated; the agent fills a table indexed by number. */
enum ss_syscall_class {
  SS_SC_PLAIN = 0,       /* no fd argument we report */
  SS_SC_FD = 1,          /* first argument is an fd */
  SS_SC_EPOLL_WAIT = 2,  /* epoll_wait/epoll_pwait/epoll_pwait2: arg0 is the epoll fd */
  SS_SC_POLL = 3,        /* poll/ppoll: arg0 points at struct pollfd[] */
  SS_SC_SELECT = 4,      /* select/pselect6: arg1 points at the read fd_set */
  SS_SC_EPOLL_CTL = 5,   /* epoll_ctl: arg0 epoll fd, arg1 op, arg2 target fd */
};

/* What kind of file an fd was when the kernel looked (from the inode mode). */
enum ss_file_kind {
  SS_FILE_UNKNOWN = 0,
  SS_FILE_SOCKET = 1,
  SS_FILE_PIPE = 2,
  SS_FILE_REGULAR = 3,
  SS_FILE_OTHER = 4,
};

/* Addresses of an inet socket, read in the kernel while the fd was still open, so a
 * connection closed before the agent looks is still named. family 0 = not inet. */
struct ss_sock_addr {
  __u16 family; /* AF_INET / AF_INET6 */
  __u16 sport;  /* host order */
  __u16 dport;  /* host order */
  __u8 protocol; /* IPPROTO_TCP / IPPROTO_UDP */
  __u8 state;    /* TCP state */
  __u8 saddr[16];
  __u8 daddr[16];
};

/* One syscall (by number and fd) that blocked during a busy period. */
struct ss_syscall_slot {
  __s32 nr;
  __s32 fd;
  __u64 total_ns;
  __u32 count;
  __u32 file_kind; /* enum ss_file_kind */
  struct ss_sock_addr sock;
};

/* Per-thread accounting of the current busy period (the time between the return of the
 * loop's wait and the entry of the next). Lives in the thread map; the agent also reads it
 * directly to report stalls still in progress. */
struct ss_busy_period {
  __u64 start_ns;  /* CLOCK_MONOTONIC ns of the wait's return; 0 = waiting / never waited */
  __u64 on_cpu_ns;
  __u64 off_cpu_ns;
  __u64 runq_ns;
  __u64 other_ns;     /* blocking syscalls that did not fit in slots */
  __u32 other_count;
  __u32 nslots;
  struct ss_syscall_slot slots[SS_MAX_SYSCALL_SLOTS];
  __u64 longest_block_ns;
  __u32 seq;          /* increments per busy period, to match in-progress and final reports */
  /* Stacks are copied in (bpf_get_stack) rather than kept in a stack-id map: no collisions, no
   * cleanup, and a stack can never belong to another moment than the stall it travels with. */
  __u32 block_stack_len; /* frames: user stack at the longest blocking syscall */
  __u32 cpu_stack_len;   /* frames: user stack sampled on CPU late in the period */
  __u32 full_stacks;     /* whole user stacks taken at blocks this period (bounded) */
  __u64 block_stack[SS_STACK_DEPTH];
  __u64 cpu_stack[SS_STACK_DEPTH];
};

/* SS_OFF_IN_WAIT: off CPU inside its wait (no busy period on; its wakeup is not timed). */
enum ss_off_kind { SS_ON_CPU = 0, SS_OFF_BLOCKED = 1, SS_OFF_RUNNABLE = 2, SS_OFF_IN_WAIT = 3 };

struct ss_thread_state {
  __u32 tgid;
  __u32 tid;
  /* scheduler bookkeeping */
  __u64 last_on_ns;
  __u64 last_off_ns;
  __u64 wakeup_ns;
  __u64 last_off_exec_ns; /* the task's se.sum_exec_runtime at last_off_ns */
  __u64 wait_enter_ns;    /* entry of the current (or last) wait */
  __u8 off_kind;       /* enum ss_off_kind */
  /* Inside a wait that bounds busy periods, as far as the kernel has seen: no program runs at
   * wait exits, so this stays set after a return until the thread is next seen outside the
   * wait (its next wait entry, a switch-out elsewhere, a CPU sample). */
  __u8 in_wait;
  __u8 sys_blocked;    /* the thread sleeps in a syscall (set at switch-out, cleared at switch-in) */
  /* Sticky: the thread once added a client connection (TCP or named unix stream socket) to an
   * epoll set, i.e. it multiplexes connections. Sync workers never do; event loops do, even
   * for a request they answer and close before waiting again. */
  __u8 adds_connections;
  /* in-flight syscall */
  __s32 sys_nr;        /* -1 when not in a syscall */
  __s32 sys_fd;
  __u64 sys_start_ns;  /* when the thread went to sleep in it (valid if sys_blocked) */
  __u32 sys_stack_len; /* frames in sys_stack: taken when the in-flight syscall first blocked */
  /* the loop's wait: the first epoll fd the thread waits on; poll/select bound periods
   * only for threads that never used epoll (nested poll() on a socket with a timeout
   * inside a handler must not split a stall). */
  __s32 loop_epfd;     /* -1 until the thread waits on an epoll fd */
  __s32 last_wait_nr;
  __s32 last_wait_fd;
  __s32 sys_slot;      /* the in-flight syscall's slot in busy.slots, or SS_SLOT_OTHER */
  /* Waits seen at switch-out (--syscall-hooks sched): the busy.seq for which this loop thread
   * was last reported a suspect (busy without a wait seen for arm_after_ns), so that one long
   * period raises one SS_EV_LOOP_SUSPECT, not one per CPU sample. */
  __u32 suspect_seq;
  __u32 _pad_suspect;
  __u64 sys_stack[SS_STACK_DEPTH];
  struct ss_busy_period busy;
};

enum ss_event_type {
  SS_EV_STALL = 1,        /* a busy period >= threshold ended */
  SS_EV_PROC_FORK = 2,    /* a tracked process forked a child process (now tracked) */
  SS_EV_PROC_EXEC = 3,
  SS_EV_PROC_EXIT = 4,
  SS_EV_EXEC_UNTRACKED = 5, /* an untracked process exec'd (stallscope daemon discovery, when enabled) */
  SS_EV_POOL_SATURATION = 6, /* every member of a pool was busy >= the saturation threshold */
  SS_EV_SOCKET_CLOSED = 7,   /* a followed TCP connection closed */
  SS_EV_THREAD_START = 20,   /* a tracked process started a thread (pool membership rescans) */
  SS_EV_MEMBER_EXIT = 21,    /* a pool member's thread exited (pool size rescans) */
  /* --syscall-hooks sched: a loop thread has run this long without a wait the scheduler saw
   * (it may be iterating on waits that never sleep): the agent arms its wait uprobes. */
  SS_EV_LOOP_SUSPECT = 22,
  SS_EV_WAIT_UPROBE_HIT = 23, /* the first hit of the uprobes armed for a process: disarm them */
  /* --syscall-hooks sched: a pool saturated while the accept exits are not hooked: hook them */
  SS_EV_ACCEPT_HOOKS_WANTED = 24,
};

enum ss_stall_end {
  SS_END_WAIT = 0,          /* the thread returned to its wait */
  SS_END_THREAD_EXIT = 1,   /* the thread exited mid-stall */
};

struct ss_event_header {
  __u32 type; /* enum ss_event_type */
  __u32 tgid;
  __u32 tid;
  __u32 _pad;
  __u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

struct ss_stall_event {
  struct ss_event_header hdr;
  char comm[SS_COMM_LEN];
  __u32 end_reason; /* enum ss_stall_end */
  __s32 wait_nr;    /* the wait that ended it (-1 on thread exit) */
  __s32 wait_fd;
  __u32 flags; /* SS_STALL_F_* */
  struct ss_busy_period busy;
};

#define SS_STALL_F_ADDS_CONNECTIONS 1u /* the thread's adds_connections was set */

struct ss_proc_event {
  struct ss_event_header hdr;
  __u32 parent_tgid; /* fork: the parent; exec/exit: 0 */
  __u32 child_tgid;  /* fork: the new process; thread start: the new thread's tid */
  char comm[SS_COMM_LEN];
};

/* Counters the agent reports; nothing is dropped without one of these going up. */
enum ss_counter {
  SS_CNT_RINGBUF_FULL = 0,
  SS_CNT_THREAD_MAP_FULL = 1,
  SS_CNT_TRACKED_MAP_FULL = 2,
  SS_CNT_STACK_FAILED = 3,  /* bpf_get_stack failed */
  SS_CNT_STALLS_EMITTED = 4,
  SS_CNT_SOCKET_MAP_FULL = 5,  /* TCP connections not followed */
  SS_CNT_SOCKETS_EMITTED = 6,
  SS_CNT_SWITCH_IN_UNSEEN = 7, /* a task ran again without a sched_switch we saw (repaired) */
  SS_CNT_WAITS_AT_SWITCH = 8,  /* sched mode: waits found asleep at a switch-out */
  SS_CNT_WAIT_UPROBE_HITS = 9, /* sched mode: waits seen by an armed uprobe */
  /* sched mode: uprobe hits in a process not tracked. Must stay 0: the uprobes are attached to
   * one process each, so no other process should ever trap on them. */
  SS_CNT_WAIT_UPROBE_HITS_UNTRACKED = 10,
  SS_CNT_MAX = 11,
};

/* ---- Pools (bpf/pools.bpf.h) ---- */

#define SS_MAX_POOLS 64
/* A saturation survives idle gaps this short: a worker that finishes a job takes the next queued
 * one within microseconds to a few ms (queue and GIL lock handoffs block in untimed futex waits
 * for that long). */
#define SS_SATURATION_GAP_NS 5000000ULL

/* What a member's idle wait looks like, as flags: a member blocked in such a wait is idle
 * (waiting for work), in anything else busy. */
#define SS_IDLE_FUTEX 1u    /* futex wait WITHOUT timeout (queue.get(), a pthread mutex) */
#define SS_IDLE_LISTENER 2u /* accept/epoll_wait/select/poll on idle_fd (the listener or its epoll) */

/* One pool member (a thread; for prefork the worker's only thread). The agent inserts it idle
 * (it found it sitting in its idle wait); the kernel flips busy/idle from then on. */
struct ss_pool_member {
  __u32 pool_id;
  __u32 idle_flags; /* SS_IDLE_* */
  __s32 idle_fd;
  __u32 busy;       /* 0 idle, 1 busy */
  __u64 since_ns;   /* last busy/idle change */
  __u64 busy_ns;    /* cumulative busy time, up to since_ns */
  __u64 wakeups;    /* idle -> busy transitions: jobs taken */
  __u64 accepts;    /* connections this member accepted */
  __u64 last_off_exec_ns; /* its se.sum_exec_runtime when it last left a CPU; 0: not yet */
  /* SS_IDLE_FUTEX: the futex word of the queue it takes jobs from (a ThreadPoolExecutor's
   * SimpleQueue lock); an untimed wait on another word is work (a handler's lock). 0: any. */
  __u64 idle_uaddr;
};

/* Per pool, in an mmapable array indexed by pool id: the agent sets size/listen_port, the
 * kernel counts busy members and notes saturation (busy == size) start and end. */
struct ss_pool {
  __u32 size;
  __u32 busy;
  __u32 peak_busy;     /* the agent resets it to busy each interval */
  __u32 listen_port;   /* 0: none known */
  __u64 sat_start_ns;  /* 0: not saturated */
  __u32 sat_seq;       /* increments per saturation */
  __u32 sat_max_queued;
  __u32 sat_accepts;
  __u32 _pad;
  __u64 sat_accept_wait_sum_ns;
  __u64 sat_accept_wait_max_ns;
  /* When a member went idle during the saturation; 0: none. Gaps up to SS_SATURATION_GAP_NS
   * do not end it; a longer one ends it where the gap began. */
  __u64 sat_gap_ns;
  __u64 sat_on_cpu_ns; /* members' on-CPU time during the saturation */
};

struct ss_pool_event {
  struct ss_event_header hdr; /* ts_ns = end */
  __u32 pool_id;
  __u32 seq;
  __u64 start_ns;
  __u32 max_queued;
  __u32 accepts;
  __u64 accept_wait_sum_ns;
  __u64 accept_wait_max_ns;
  __u64 on_cpu_ns;
};

/* ---- Sockets (bpf/sockets.bpf.h) ---- */

#define SS_MAX_LISTENERS 256

/* A listening port of a tracked process, found by port: inbound connections are created in
 * softirq context where `current` is arbitrary, so they are recognised by their local port. */
struct ss_listener {
  __u32 pool_id_plus1;   /* 0: no pool */
  __u32 queued;          /* children established and not yet accepted (or closed) */
  __u32 peak_queued;     /* the agent resets it to queued each interval */
  __u32 max_backlog;     /* sk_max_ack_backlog, read at accept */
  __u64 accepts;
  __u64 synack_retransmits;
  __u64 established;     /* children established (counted whether or not accepts are hooked) */
};

#define SS_SOCK_INBOUND 1u
#define SS_SOCK_ACCEPTED 2u
#define SS_SOCK_RESET_RECEIVED 4u
#define SS_SOCK_RESET_SENT 8u
#define SS_SOCK_ESTABLISHED 16u
#define SS_SOCK_QUEUE_COUNTED 32u /* counted in its listener's queued (uncounted once, at accept or close) */

/* Kernel-only state of one followed connection, keyed by its struct sock pointer. */
struct ss_sock_track {
  __u64 open_ns;        /* connect() (outbound) or established (inbound) */
  __u64 established_ns;
  __u64 accept_ns;
  __u32 tgid;
  __u32 tid;
  __u32 flags;          /* SS_SOCK_* */
  __u32 _pad;
  /* Read when established: by the time of the CLOSE state change the kernel has already
   * released the local port (inet_num is 0). */
  struct ss_sock_addr addr;
};

struct ss_socket_event {
  struct ss_event_header hdr; /* ts_ns = close; tgid/tid: owner (0 if never accepted) */
  struct ss_sock_addr addr;   /* local = saddr/sport */
  __u32 flags;                /* SS_SOCK_* */
  __u32 _pad;
  __u64 open_ns;
  __u64 established_ns;
  __u64 accept_ns;
  __u64 bytes_in;
  __u64 bytes_out;
};

#endif /* STALLSCOPE_BPF_ABI_H_ */
