/* placeholder: replaced by the real programs shortly */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "stallscope_abi.h"
char LICENSE[] SEC("license") = "GPL";
struct ss_thread_state _unused_state = {};
