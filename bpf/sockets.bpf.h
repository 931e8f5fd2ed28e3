/* TCP connections of tracked processes: one event per connection, when it closes.
 *
 * Followed from inet_sock_set_state (state changes only, never per packet):
 *   - outbound: CLOSE -> SYN_SENT runs inside connect(), so `current` is the owner;
 *   - inbound: a child of a tracked listener reaches ESTABLISHED in softirq context, where
 *     `current` is arbitrary: it is recognised by its local port in `listeners`, and its owner
 *     is whoever accept()s it (sys_exit_accept/accept4).
 * The listener's accept-queue depth is counted here (children established minus accepted or
 * closed before accept), so its peak is exact rather than polled. Bytes come from tcp_sock at
 * close; resets from the tcp reset tracepoints. Uses the listeners and pools of
 * pools.bpf.h. */
#ifndef STALLSCOPE_SOCKETS_BPF_H_
#define STALLSCOPE_SOCKETS_BPF_H_

#include "common.bpf.h"
#include "fd_info.bpf.h"
#include "pools.bpf.h"

/* Set by the agent: send a SS_EV_SOCKET_CLOSED per connection (it writes SocketLifetime reports
 * or the text endpoint table). Accept-queue and accept-wait accounting runs either way. */
const volatile bool socket_events = true;

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* struct sock * */
  __type(value, struct ss_sock_track);
} sockets SEC(".maps");

/* sk from a file (probe-read pointer). */
static __always_inline struct ss_listener *listener_of(const struct sock *sk) {
  return listener_on_port(BPF_CORE_READ(sk, __sk_common.skc_num));
}

/* sk a BTF pointer (tp_btf argument): a direct load instead of a probe-read call. Every TCP
 * state change on the host runs the state program, so this matters. */
static __always_inline struct ss_listener *listener_of_btf(const struct sock *sk) {
  return listener_on_port(sk->__sk_common.skc_num);
}

static __always_inline void track_socket(const struct sock *sk, struct ss_sock_track *s) {
  __u64 key = (__u64)sk;
  if (bpf_map_update_elem(&sockets, &key, s, BPF_NOEXIST) == -E2BIG)
    count(SS_CNT_SOCKET_MAP_FULL);
}

static __always_inline void socket_closed(const struct sock *sk, struct ss_sock_track *s,
                                          __u64 now) {
  if ((s->flags & (SS_SOCK_QUEUE_COUNTED | SS_SOCK_ACCEPTED)) == SS_SOCK_QUEUE_COUNTED) {
    /* closed while still in the accept queue */
    struct ss_listener *l = listener_on_port(s->addr.sport);
    if (l && l->queued) __sync_fetch_and_sub(&l->queued, 1);
  }
  /* The agent asks for these only when it writes them (--sockets, or text's endpoint table). */
  if (!socket_events) return;
  struct ss_socket_event *e = reserve_event(sizeof(*e), SS_EV_SOCKET_CLOSED, s->tgid, s->tid, now);
  if (!e) return;
  if (s->addr.family) {
    e->addr = s->addr;
  } else { /* never established: whatever is left */
    __builtin_memset(&e->addr, 0, sizeof(e->addr));
    read_sock_addr_btf(sk, &e->addr);
  }
  e->flags = s->flags;
  e->_pad = 0;
  e->open_ns = s->open_ns;
  e->established_ns = s->established_ns;
  e->accept_ns = s->accept_ns;
  /* Payload bytes only. bytes_received counts sequence space, so a received FIN adds one
   * (tcp_fin sets SOCK_DONE); bytes_acked would add the SYN and FIN too, so out is what was sent
   * minus retransmissions (bytes_sent counts data octets only). */
  const struct tcp_sock *tp = (const struct tcp_sock *)sk;
  __u64 in = BPF_CORE_READ(tp, bytes_received);
  unsigned long sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags); /* sk_flags is a macro */
  if (in && (sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))) in -= 1;
  e->bytes_in = in;
  e->bytes_out = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
  /* No wakeup: a busy server closes thousands of connections a second, and waking the agent
   * for each cost it a tenth of a core in context switches. It drains the buffer at its 100 ms
   * scan anyway (1 MiB holds ~10k of these); stalls still wake it. */
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  count(SS_CNT_SOCKETS_EMITTED);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(ss_sock_state, const struct sock *sk, const int oldstate, const int newstate) {
  if (sk->sk_protocol != IPPROTO_TCP) return 0; /* direct load: sk is a BTF pointer */
  __u64 key = (__u64)sk;
  if (newstate == TCP_SYN_SENT) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!is_tracked(pid_tgid >> 32)) return 0;
    struct ss_sock_track s = {.open_ns = ss_now_ns(),
                              .tgid = pid_tgid >> 32,
                              .tid = (__u32)pid_tgid};
    track_socket(sk, &s);
    return 0;
  }
  if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
    /* The child is already in the listener's accept queue here (tcp_check_req queued it), so
     * another CPU may even have accept()ed it already: then on_accept_exit created the entry. */
    struct ss_listener *l = listener_of_btf(sk);
    if (!l) return 0;
    if (bpf_map_lookup_elem(&sockets, &key)) return 0;
    __u64 now = ss_now_ns();
    bool counting = accept_hooks_on; /* read once: the agent may flip it meanwhile */
    struct ss_sock_track s = {.open_ns = now,
                              .established_ns = now,
                              .flags = SS_SOCK_INBOUND | SS_SOCK_ESTABLISHED |
                                       (counting ? SS_SOCK_QUEUE_COUNTED : 0)};
    read_sock_addr_btf(sk, &s.addr);
    /* Count it before it can be found: an accept() on another CPU decrements as soon as the
     * entry exists, and must never find the count not yet raised. */
    __u32 queued = counting ? __sync_add_and_fetch(&l->queued, 1) : 0;
    long err = bpf_map_update_elem(&sockets, &key, &s, BPF_NOEXIST);
    if (err != 0) {
      /* -EEXIST: accept() on another CPU inserted it since our lookup (never queued). */
      if (counting) __sync_fetch_and_sub(&l->queued, 1);
      if (err == -E2BIG) count(SS_CNT_SOCKET_MAP_FULL);
      return 0;
    }
    __sync_fetch_and_add(&l->established, 1);
    if (queued > l->peak_queued) l->peak_queued = queued;
    __u32 pool_id = l->pool_id_plus1 - 1;
    struct ss_pool *p = l->pool_id_plus1 ? bpf_map_lookup_elem(&pools, &pool_id) : NULL;
    if (p && p->sat_start_ns && queued > p->sat_max_queued) p->sat_max_queued = queued;
    return 0;
  }
  /* Only establishment and close change what we keep: the other half of a connection's ~10
   * state changes on the host (FIN_WAIT*, CLOSE_WAIT, LAST_ACK, a child's SYN_RECV) return
   * before the hash lookup. */
  if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE) return 0;
  struct ss_sock_track *s = bpf_map_lookup_elem(&sockets, &key);
  if (!s) return 0;
  if (newstate == TCP_ESTABLISHED) {
    s->established_ns = ss_now_ns();
    s->flags |= SS_SOCK_ESTABLISHED;
    read_sock_addr_btf(sk, &s->addr); /* connect() has bound the local port by now */
  } else if (newstate == TCP_CLOSE) {
    socket_closed(sk, s, ss_now_ns());
    bpf_map_delete_elem(&sockets, &key);
  }
  return 0;
}

static __always_inline void note_reset(const struct sock *sk, __u32 flag) {
  __u64 key = (__u64)sk;
  struct ss_sock_track *s = sk ? bpf_map_lookup_elem(&sockets, &key) : NULL;
  if (s) s->flags |= flag;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(ss_tcp_receive_reset, struct sock *sk) {
  note_reset(sk, SS_SOCK_RESET_RECEIVED);
  return 0;
}

/* sk is NULL for resets sent in answer to segments of no socket. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(ss_tcp_send_reset, const struct sock *sk) {
  note_reset(sk, SS_SOCK_RESET_SENT);
  return 0;
}

/* A listener retransmits a SYN-ACK when the handshake's last ACK did not complete it, most
 * often because the accept queue was full and the kernel dropped it (a listen overflow). */
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(ss_tcp_retransmit_synack, const struct sock *sk) {
  struct ss_listener *l = listener_of_btf(sk);
  if (l) __sync_fetch_and_add(&l->synack_retransmits, 1);
  return 0;
}

/* The socket of the fd accept() just returned. Known to be a socket, so the file's inode is not
 * checked: two probe reads (file, socket) fewer on every accepted connection. */
static __always_inline struct sock *accepted_sock(int fd) {
  struct file *file = file_of_fd(fd);
  struct socket *sock = file ? BPF_CORE_READ(file, private_data) : NULL;
  return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* accept() returned a connection: its owner, and its wait in the accept queue. A tracepoint
 * of its own (tracefs), not the generic sys_exit, so other syscalls pay nothing for it. */
static __always_inline int on_accept_exit(long ret) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (ret < 0 || !is_tracked(pid_tgid >> 32)) return 0;
  __u32 tid = (__u32)pid_tgid;
  struct ss_pool_member *m = lookup_member(tid);
  if (m) m->accepts += 1;
  struct sock *sk = accepted_sock((int)ret);
  __u64 key = (__u64)sk;
  if (!sk) return 0;
  __u64 now = ss_now_ns();
  struct ss_sock_track *s = bpf_map_lookup_elem(&sockets, &key);
  if (!s) {
    /* Accepted before its ESTABLISHED state change ran (the child is queued just before):
     * it waited ~0 in the queue, and was never counted in it. */
    if (!listener_of(sk)) return 0;
    struct ss_sock_track fresh = {.open_ns = now,
                                  .established_ns = now,
                                  .accept_ns = now,
                                  .tgid = pid_tgid >> 32,
                                  .tid = tid,
                                  .flags = SS_SOCK_INBOUND | SS_SOCK_ESTABLISHED | SS_SOCK_ACCEPTED};
    read_sock_addr(sk, &fresh.addr);
    long err = bpf_map_update_elem(&sockets, &key, &fresh, BPF_NOEXIST);
    if (err == -E2BIG) count(SS_CNT_SOCKET_MAP_FULL);
    if (err != -EEXIST) return 0;
    /* The state change ran on another CPU between our lookup and insert: it counted the child
     * in the queue, so take the accepted path below, which uncounts it. */
    s = bpf_map_lookup_elem(&sockets, &key);
    if (!s) return 0;
  }
  if (s->flags & SS_SOCK_ACCEPTED) return 0;
  s->flags |= SS_SOCK_ACCEPTED;
  s->accept_ns = now;
  s->tgid = pid_tgid >> 32;
  s->tid = tid;
  __u64 wait = now - s->established_ns;
  struct ss_listener *l = listener_on_port(s->addr.sport); /* sk's port, read when it was queued */
  if (!l) return 0;
  /* The listener's limit (not in /proc/net/tcp): accept()'s first argument is the listening fd,
   * still in the registers saved at syscall entry. Read once per listener: the fd-table walk
   * is most of this program's cost, and the limit only changes with another listen(). */
  if (!l->max_backlog) {
    struct pt_regs *regs =
        have_task_pt_regs ? (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf()) : NULL;
    struct file *lfile = regs ? file_of_fd((int)PT_REGS_PARM1_SYSCALL(regs)) : NULL;
    struct sock *lsk = lfile ? sock_of_file(lfile) : NULL;
    if (lsk) l->max_backlog = BPF_CORE_READ(lsk, sk_max_ack_backlog);
  }
  if ((s->flags & SS_SOCK_QUEUE_COUNTED) && l->queued) __sync_fetch_and_sub(&l->queued, 1);
  __sync_fetch_and_add(&l->accepts, 1);
  if (!l->pool_id_plus1) return 0;
  __u32 pool_id = l->pool_id_plus1 - 1;
  struct ss_pool *p = bpf_map_lookup_elem(&pools, &pool_id);
  if (!p || !p->sat_start_ns) return 0;
  p->sat_accepts += 1;
  p->sat_accept_wait_sum_ns += wait;
  if (wait > p->sat_accept_wait_max_ns) p->sat_accept_wait_max_ns = wait;
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int ss_accept4_exit(struct trace_event_raw_sys_exit *ctx) { return on_accept_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept")
int ss_accept_exit(struct trace_event_raw_sys_exit *ctx) { return on_accept_exit(ctx->ret); }

#endif /* STALLSCOPE_SOCKETS_BPF_H_ */
