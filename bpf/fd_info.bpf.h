// SPDX-License-Identifier: GPL-2.0
/* What an fd of the current task is, read in the kernel while it is still open: the file kind,
 * and for sockets their addresses. Included by stallscope.bpf.c (needs vmlinux.h and the ABI).
 * Every helper here reads the *current* task's fd table: call them only where the task of
 * interest is current (its own syscall tracepoints, or sched_switch for prev). */
#ifndef STALLSCOPE_BPF_FD_INFO_BPF_H_
#define STALLSCOPE_BPF_FD_INFO_BPF_H_

static __always_inline struct file *file_of_fd(int fd) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file **fd_array = BPF_CORE_READ(fdt, fd);
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

/* An inet socket's addresses and state (protocol TCP; callers correct it for UDP). */
static __always_inline void read_sock_addr(const struct sock *sk, struct ss_sock_addr *a) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  a->family = family;
  a->protocol = IPPROTO_TCP;
  a->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  a->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  a->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == AF_INET) {
    BPF_CORE_READ_INTO(&a->saddr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO(&a->daddr, sk, __sk_common.skc_daddr);
  } else {
    BPF_CORE_READ_INTO(&a->saddr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO(&a->daddr, sk, __sk_common.skc_v6_daddr);
  }
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
