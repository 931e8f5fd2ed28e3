// SPDX-License-Identifier: GPL-2.0
/* What an fd of the current task is, read in the kernel while it is still open: the file kind,
 * and for sockets their addresses.
 * Every helper here reads the *current* task's fd table: call them only where the task of
 * interest is current (its own syscall tracepoints, or sched_switch for prev). */
#ifndef STALLSCOPE_BPF_FD_INFO_BPF_H_
#define STALLSCOPE_BPF_FD_INFO_BPF_H_

#include "common.bpf.h"

/* The task, its fd table and the table's bounds are direct loads from a BTF pointer (no
 * probe-read call each, 43 ns apiece at the time of writing). The array of files is a pointer to
 * pointers, which the verifier types as a plain number: its slot is one probe read. */
static __always_inline struct file *file_of_fd(int fd) {
  struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
  if (!fdt || fd < 0 || (unsigned int)fd >= fdt->max_fds) return NULL;
  struct file **fd_array = fdt->fd;
  struct file *file = NULL;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fd_array[fd])) return NULL;
  return file;
}

static __always_inline struct sock *sock_of_file(struct file *file) {
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) return NULL;
  struct socket *sock = BPF_CORE_READ(file, private_data);
  return BPF_CORE_READ(sock, sk);
}

/* A TCP connection (any state but LISTEN, so outbound connects count), or a unix stream socket
 * with a named end: accepted from, or connected to, a path. Socketpairs (asyncio's and uWSGI's
 * wake-up channels) have no name on either end and are not client connections. */
static __always_inline bool is_client_connection(int fd) {
  struct file *file = file_of_fd(fd);
  struct sock *sk = file ? sock_of_file(file) : NULL;
  if (!sk || BPF_CORE_READ(sk, sk_type) != SOCK_STREAM) return false;
  if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_LISTEN) return false;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family == AF_INET || family == AF_INET6) return true;
  if (family != AF_UNIX) return false;
  struct unix_sock *u = (struct unix_sock *)sk; /* struct sock is unix_sock's first member */
  if (BPF_CORE_READ(u, addr)) return true;
  struct sock *peer = BPF_CORE_READ(u, peer);
  return peer && BPF_CORE_READ((struct unix_sock *)peer, addr);
}

/* An inet socket's addresses and state (protocol TCP; callers correct it for UDP). One body for
 * both kinds of sock pointer: READ(sk, field) is a direct load for a BTF pointer (tp_btf
 * arguments) and a probe read for a number read from memory (an fd's file), which the verifier
 * cannot type; COPY6 copies an in6_addr the same way. */
#define SS_FILL_SOCK_ADDR(sk, a, READ, COPY6)                                 \
  do {                                                                        \
    __u16 family_ = READ(sk, __sk_common.skc_family);                         \
    (a)->family = family_;                                                    \
    (a)->protocol = IPPROTO_TCP;                                              \
    (a)->state = READ(sk, __sk_common.skc_state);                             \
    (a)->sport = READ(sk, __sk_common.skc_num);                               \
    (a)->dport = bpf_ntohs(READ(sk, __sk_common.skc_dport));                  \
    if (family_ == AF_INET) {                                                 \
      *(__u32 *)(a)->saddr = READ(sk, __sk_common.skc_rcv_saddr);             \
      *(__u32 *)(a)->daddr = READ(sk, __sk_common.skc_daddr);                 \
    } else {                                                                  \
      COPY6((a)->saddr, sk, __sk_common.skc_v6_rcv_saddr);                    \
      COPY6((a)->daddr, sk, __sk_common.skc_v6_daddr);                        \
    }                                                                         \
  } while (0)

#define SS_PROBE_COPY6(dst, sk, field) BPF_CORE_READ_INTO(&(dst), sk, field)

static __always_inline void read_sock_addr(const struct sock *sk, struct ss_sock_addr *a) {
  SS_FILL_SOCK_ADDR(sk, a, BPF_CORE_READ, SS_PROBE_COPY6);
}

/* Direct loads. An in6_addr goes as four 32-bit words, each a member the verifier can check
 * (a 16-byte copy out of a BTF object is not a load it accepts). */
#define SS_DIRECT_LOAD(p, field) ((p)->field)
#define SS_DIRECT_COPY6(dst, sk, field)                  \
  do {                                                   \
    __u32 *words_ = (__u32 *)(dst);                      \
    words_[0] = (sk)->field.in6_u.u6_addr32[0];          \
    words_[1] = (sk)->field.in6_u.u6_addr32[1];          \
    words_[2] = (sk)->field.in6_u.u6_addr32[2];          \
    words_[3] = (sk)->field.in6_u.u6_addr32[3];          \
  } while (0)

/* sk a BTF pointer: every TCP state change of the host may call this, so no probe reads. */
static __always_inline void read_sock_addr_btf(const struct sock *sk, struct ss_sock_addr *a) {
  SS_FILL_SOCK_ADDR(sk, a, SS_DIRECT_LOAD, SS_DIRECT_COPY6);
}

/* Names the fd while it is still open: file kind, and inet addresses for sockets. */
static __always_inline void describe_fd(int fd, struct ss_syscall_slot *slot) {
  struct file *file = file_of_fd(fd);
  if (!file) return;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  switch (mode & S_IFMT) {
    case S_IFSOCK: slot->file_kind = SS_FILE_SOCKET; break;
    case S_IFIFO: slot->file_kind = SS_FILE_PIPE; return;
    case S_IFREG: slot->file_kind = SS_FILE_REGULAR; return;
    default: slot->file_kind = SS_FILE_OTHER; return;
  }
  struct sock *sk = sock_of_file(file);
  if (!sk) return;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return;
  read_sock_addr(sk, &slot->sock);
  if (BPF_CORE_READ(sk, sk_type) == SOCK_DGRAM) slot->sock.protocol = IPPROTO_UDP;
}

#endif /* STALLSCOPE_BPF_FD_INFO_BPF_H_ */
