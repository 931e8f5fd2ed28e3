// SPDX-License-Identifier: GPL-2.0
/* Reference programs for the syscall storms of scripts/bench.sh (storms.py): what each hooking
 * mechanism costs on this kernel on its own, with a program that does nothing, so that a storm
 * figure can be split into what the kernel charges and what stallscope adds:
 *   ref_tp_epoll_wait  tracepoint/syscalls/sys_enter_epoll_wait (as --syscall-hooks
 *                      tracepoints): every task's syscalls take the slow path, every
 *                      epoll_wait call dispatches to BPF through a perf record
 *   ref_raw_sys_enter  tp_btf/sys_enter (as --syscall-hooks raw): every syscall runs it
 *   ref_uprobe         a uprobe, attached by floor_loader to one process only (libc's
 *                      epoll_wait in the tracked storm): a breakpoint trap per call there,
 *                      nothing for other processes
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint/syscalls/sys_enter_epoll_wait")
int ref_tp_epoll_wait(void *ctx) {
  return 0;
}

SEC("tp_btf/sys_enter")
int ref_raw_sys_enter(void *ctx) {
  return 0;
}

SEC("uprobe")
int ref_uprobe(void *ctx) {
  return 0;
}
