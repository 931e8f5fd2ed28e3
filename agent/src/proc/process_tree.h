// What /proc says about processes: existence, thread group, name, descendants.
#ifndef STALLSCOPE_AGENT_PROC_PROCESS_TREE_H_
#define STALLSCOPE_AGENT_PROC_PROCESS_TREE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stallscope {

// The process (thread group) a PID or TID belongs to; nullopt when it does not exist.
std::optional<pid_t> ThreadGroupOf(pid_t pid, const std::string& proc_root = "/proc");

// The process's name (/proc/PID/comm), "" when gone.
std::string ReadComm(pid_t pid, const std::string& proc_root = "/proc");

// A thread's name (/proc/PID/task/TID/comm), "" when gone.
std::string ReadThreadComm(pid_t pid, pid_t tid, const std::string& proc_root = "/proc");
// The thread's CPU time in ns (the scheduler's sum_exec_runtime: the first field of
// /proc/PID/task/TID/schedstat), or nullopt when it cannot be read.
std::optional<uint64_t> ReadThreadCpuTimeNs(pid_t pid, pid_t tid, const std::string& proc_root = "/proc");

// Thread ids of a process (/proc/PID/task), empty when gone.
std::vector<pid_t> ListThreads(pid_t pid, const std::string& proc_root = "/proc");

// What a thread is doing in the kernel right now, from /proc/PID/task/TID/syscall.
struct CurrentSyscall {
  bool in_syscall = false;  // false: running, or blocked outside a syscall
  int nr = -1;
  uint64_t args[6] = {};
};
std::optional<CurrentSyscall> ReadCurrentSyscall(pid_t pid, pid_t tid,
                                                 const std::string& proc_root = "/proc");

// Every live descendant (children, grandchildren, ...) of the given processes, from the PPid of
// each /proc/PID/stat. Does not include the roots themselves.
std::vector<pid_t> FindDescendants(const std::vector<pid_t>& roots,
                                   const std::string& proc_root = "/proc");

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PROC_PROCESS_TREE_H_
