// Syscall numbers <-> names for the build architecture, and the class table the BPF programs
// use to know which syscalls take an fd and which are the poll-family waits.
#ifndef STALLSCOPE_AGENT_BPF_SYSCALL_TABLE_H_
#define STALLSCOPE_AGENT_BPF_SYSCALL_TABLE_H_

#include <array>
#include <cstdint>
#include <string>

#include "stallscope_abi.h"

namespace stallscope {

// "read", "epoll_wait", ... or "syscall_<nr>" for numbers this build does not know.
std::string SyscallName(int nr);

// -1 when unknown.
int SyscallNumber(const std::string& name);

// enum ss_syscall_class per syscall number, for the BPF programs' read-only data.
std::array<uint8_t, SS_SYSCALL_TABLE_SIZE> BuildSyscallClassTable();

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_BPF_SYSCALL_TABLE_H_
