// SPDX-License-Identifier: GPL-2.0
/* Reference programs for scripts/bench.sh: what a BPF program costs per run on this kernel and
 * machine before it does any work (dispatch, bpf_stats' own clock reads, retpolines and return
 * thunks where the CPU needs them). Attached next to stallscope's programs, they give the floor
 * its figures are read against:
 *   bench_empty   tp_btf/sys_enter, returns at once
 *   bench_lookup  tp_btf/sys_enter, one hash-map lookup of the current tgid: what filtering
 *                 on a set of processes usually costs
 *   bench_sw_empty tp_btf/sched_switch, returns at once
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u8);
} bench_tgids SEC(".maps");

SEC("tp_btf/sys_enter")
int bench_empty(void *ctx) {
  return 0;
}

SEC("tp_btf/sys_enter")
int bench_lookup(void *ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (bpf_map_lookup_elem(&bench_tgids, &tgid)) return 0;
  return 0;
}

SEC("tp_btf/sched_switch")
int bench_sw_empty(void *ctx) {
  return 0;
}
