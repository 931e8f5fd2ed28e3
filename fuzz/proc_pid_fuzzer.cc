// The small /proc/PID files the agent and the daemon read about a target: stat, status (Tgid,
// NSpid), comm, cmdline, environ, a thread's comm/schedstat/syscall, an epoll fd's fdinfo, and
// the main script the command line names (read for framework imports). The input is those
// files joined by kFileSeparator, in the order of kFiles.
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/process_facts.h"
#include "daemon/server_detect.h"
#include "fuzz_support.h"
#include "proc/fd_target.h"
#include "proc/process_tree.h"
#include "symbolize/perf_map.h"

namespace {

constexpr pid_t kPid = 4242;
constexpr pid_t kTid = 4243;
constexpr int kEpollFd = 7;
constexpr const char* kFiles[] = {
    "4242/stat",      "4242/status",           "4242/comm",
    "4242/cmdline",   "4242/environ",          "4242/task/4243/comm",
    "4242/task/4243/schedstat", "4242/task/4243/syscall", "4242/fdinfo/7",
    // A relative script name is read under cwd/, an absolute one under root/.
    "4242/cwd/app.py", "4242/root/srv/app.py",
};
constexpr size_t kFileCount = sizeof(kFiles) / sizeof(kFiles[0]);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static stallscope::fuzz::ScratchTree proc;
  auto files = stallscope::fuzz::SplitFiles(data, size, kFileCount);
  for (size_t i = 0; i < kFileCount; ++i) proc.Write(kFiles[i], files[i]);
  const std::string& root = proc.root();

  stallscope::ReadProcessStat(kPid, root);
  if (auto facts = stallscope::ReadProcessFacts(kPid, root)) {
    stallscope::ReadMainScript(*facts, 64 * 1024, root);
    stallscope::DetectServer(*facts, root);
  }
  stallscope::ReadEnvironVar(kPid, "STALLSCOPE_SERVICE", root);
  stallscope::ThreadGroupOf(kPid, root);
  stallscope::ReadComm(kPid, root);
  stallscope::ReadThreadComm(kPid, kTid, root);
  stallscope::ReadThreadCpuTimeNs(kPid, kTid, root);
  stallscope::ReadCurrentSyscall(kPid, kTid, root);
  stallscope::ListThreads(kPid, root);
  stallscope::FindDescendants({1, kPid}, root);
  stallscope::ReadEpollTargets(kPid, kEpollFd, root);
  stallscope::symbolize::OpenPerfMap(kPid, root);
  stallscope::FrameworkImportedBy(std::string(files[kFileCount - 1]));
  return 0;
}
