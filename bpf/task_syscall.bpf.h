// SPDX-License-Identifier: GPL-2.0
/* The syscall a sleeping task sits in, from the user registers saved at kernel entry: shared by
 * the busy-period accounting (which syscall blocked) and the pool members' idle check.
 *
 * x86_64: entry_SYSCALL_64 saves the number as orig_ax and sets ax to -ENOSYS until the call
 * returns, while exception entries save an error code (or -1) as orig_ax and keep the user's ax;
 * so ax == -ENOSYS tells a syscall from a page fault sleeping on I/O. arm64: syscallno is
 * NO_SYSCALL (-1) outside syscalls. */
#ifndef STALLSCOPE_BPF_TASK_SYSCALL_BPF_H_
#define STALLSCOPE_BPF_TASK_SYSCALL_BPF_H_

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define SS_ENOSYS 38

/* bpf_task_pt_regs is Linux 5.15+: the agent clears this before load on older kernels, and the
 * verifier then drops the call as dead code (blocking syscalls go unnamed, pools untracked). */
const volatile bool have_task_pt_regs = true;

/* The task's saved user registers if it sleeps in a syscall (*nr set), else NULL. A BTF
 * pointer: fields are direct loads, no probe-read call each. */
static __always_inline struct pt_regs *sleeping_syscall_regs(struct task_struct *task, long *nr) {
  if (!have_task_pt_regs) return NULL;
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  if (!regs) return NULL;
#if defined(__TARGET_ARCH_x86)
  long number = regs->orig_ax;
  if (number < 0 || regs->ax != -SS_ENOSYS) return NULL;
#elif defined(__TARGET_ARCH_arm64)
  long number = regs->syscallno;
  if (number < 0) return NULL;
#endif
  *nr = number;
  return regs;
}

#endif /* STALLSCOPE_BPF_TASK_SYSCALL_BPF_H_ */
