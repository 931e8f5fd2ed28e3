// /proc/PID/net/{tcp,tcp6,udp,udp6,unix}: the target's network namespace's socket tables,
// used to name the fds a stall blocked on. The input is the five tables joined by
// kFileSeparator; fds 3-6 are sockets with inodes 1-4 (fd/N -> "socket:[N-2]").
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "proc/fd_target.h"
#include "proc/proc_net_tables.h"

namespace {

constexpr pid_t kPid = 4242;
constexpr const char* kTables[] = {"tcp", "tcp6", "udp", "udp6", "unix"};
constexpr size_t kTableCount = sizeof(kTables) / sizeof(kTables[0]);

void ParseLines(std::string_view text, size_t table) {
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (table == 4) {
      stallscope::ParseUnixSocketLine(line);
    } else {
      stallscope::ParseInetSocketLine(line, table % 2 ? AF_INET6 : AF_INET,
                                      table < 2 ? IPPROTO_TCP : IPPROTO_UDP);
    }
  }
}

void MakeFdLinks(const std::string& root) {
  for (int fd = 3; fd <= 6; ++fd) {
    std::string link = root + "/4242/fd/" + std::to_string(fd);
    std::filesystem::create_directories(root + "/4242/fd");
    std::string target = "socket:[" + std::to_string(fd - 2) + "]";
    if (symlink(target.c_str(), link.c_str()) != 0 && errno != EEXIST) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static stallscope::fuzz::ScratchTree proc;
  static bool links = (MakeFdLinks(proc.root()), true);
  (void)links;
  auto files = stallscope::fuzz::SplitFiles(data, size, kTableCount);
  for (size_t i = 0; i < kTableCount; ++i) {
    ParseLines(files[i], i);
    proc.Write(std::string("4242/net/") + kTables[i], files[i]);
  }
  stallscope::ResolveFds(kPid, {3, 4, 5, 6}, proc.root());
  stallscope::ProcNetTables tables(proc.root() + "/4242/net");
  tables.Find(1, AF_UNIX);
  tables.Find(2);
  return 0;
}
