// The small /proc/PID files the agent and the daemon read about a target: stat, status (Tgid,
// NSpid), comm, cmdline, environ, a thread's comm/schedstat/syscall, an epoll fd's fdinfo, and
// the main script the command line names (read for framework imports), and the text of an fd
// link (/proc/PID/fd/3, parsed as "socket:[INODE]"). The input is those files joined by
// kFileSeparator, in the order of kFiles.
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/process_facts.h"
#include "daemon/server_detect.h"
#include "fuzz_support.h"
#include "proc/fd_target.h"
#include "proc/process_tree.h"
#include "symbolize/perf_map.h"
#include "target_files/target_files.h"

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
    // Last: the text of a symlink, not a file (inputs made before it leave it empty).
    "4242/fd/3",
};
constexpr size_t kFileCount = sizeof(kFiles) / sizeof(kFiles[0]);
constexpr size_t kScript = kFileCount - 2;
constexpr size_t kFdLink = kFileCount - 1;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static stallscope::fuzz::ScratchTree proc;
  auto files = stallscope::fuzz::SplitFiles(data, size, kFileCount);
  for (size_t i = 0; i < kFdLink; ++i) proc.Write(kFiles[i], files[i]);
  proc.Symlink(kFiles[kFdLink], files[kFdLink]);
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
  stallscope::FrameworkImportedBy(std::string(files[kScript]));
  stallscope::CountListeningSockets(kPid, root);  // reads fd/3 through the door
  stallscope::ResolveFd(kPid, 3, root);
  stallscope::target_files::SocketInodeOfLink(files[kFdLink]);  // raw bytes, NULs included
  return 0;
}
