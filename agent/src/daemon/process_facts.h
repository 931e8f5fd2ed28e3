// What discovery knows about a process, read from /proc: name, parent, start time, command
// line, executable; and, on demand, the things that are costlier to read (memory maps, the
// main script, environment).
#ifndef STALLSCOPE_AGENT_DAEMON_PROCESS_FACTS_H_
#define STALLSCOPE_AGENT_DAEMON_PROCESS_FACTS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proc/proc_stat.h"

namespace stallscope {

// Every numeric entry of /proc.
std::vector<pid_t> ListPids(const std::string& proc_root = "/proc");

struct ProcessFacts {
  ProcessStat stat;
  std::vector<std::string> argv;
  std::string cmdline;  // argv joined with spaces
  std::string exe;      // target of /proc/PID/exe ("" if unreadable)
};

std::optional<ProcessFacts> ReadProcessFacts(pid_t pid, const std::string& proc_root = "/proc");

// Paths of the files mapped into the process (/proc/PID/maps), deduplicated.
std::vector<std::string> ReadMappedFiles(pid_t pid, const std::string& proc_root = "/proc");

// The start of the file the process runs as its main script (argv[1] of a Python interpreter,
// resolved against its cwd, read through /proc/PID/root), at most `max_bytes`; "" if none.
std::string ReadMainScript(const ProcessFacts& facts, size_t max_bytes, const std::string& proc_root = "/proc");

// The value of NAME in /proc/PID/environ, "" when unset or unreadable.
std::string ReadEnvironVar(pid_t pid, const std::string& name, const std::string& proc_root = "/proc");

// How many listening sockets (TCP, TCP6, unix stream) the process holds: its socket fds
// (/proc/PID/fd, at most 4096 looked at) matched against the listening entries of its network
// namespace's tables (/proc/PID/net/{tcp,tcp6,unix}, read only when it has a socket).
int CountListeningSockets(pid_t pid, const std::string& proc_root = "/proc");

// "python3.11" -> true: the basename of an executable is a Python interpreter.
bool IsPythonExecutable(const std::string& path);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_PROCESS_FACTS_H_
