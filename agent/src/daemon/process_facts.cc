#include "daemon/process_facts.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "target_files/target_files.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

// A /proc file of the process, bounded, through the target-files door.
std::string ReadAll(const std::string& path, size_t max_bytes = target_files::kMaxProcSmallBytes) {
  return target_files::ReadProcFile(path, max_bytes).value_or("");
}



std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::vector<pid_t> ListPids(const std::string& proc_root) {
  std::vector<pid_t> pids;
  DIR* dir = opendir(proc_root.c_str());
  if (!dir) return pids;
  while (dirent* e = readdir(dir)) {
    int pid = 0;
    if (absl::SimpleAtoi(e->d_name, &pid) && pid > 0) pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

std::optional<ProcessFacts> ReadProcessFacts(pid_t pid, const std::string& proc_root) {
  auto stat = ReadProcessStat(pid, proc_root);
  if (!stat) return std::nullopt;
  ProcessFacts facts;
  facts.stat = *stat;
  std::string raw = ReadAll(absl::StrCat(proc_root, "/", pid, "/cmdline"), 64 * 1024);
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  if (!raw.empty()) facts.argv = absl::StrSplit(raw, '\0');
  facts.cmdline = absl::StrJoin(facts.argv, " ");
  facts.exe = target_files::ReadProcLink(absl::StrCat(proc_root, "/", pid, "/exe")).value_or("");
  if (absl::EndsWith(facts.exe, " (deleted)")) facts.exe.resize(facts.exe.size() - 10);
  return facts;
}

std::vector<std::string> ReadMappedFiles(pid_t pid, const std::string& proc_root) {
  std::set<std::string> files;
  std::string maps = ReadAll(absl::StrCat(proc_root, "/", pid, "/maps"), 8 << 20);
  for (absl::string_view line : absl::StrSplit(maps, '\n', absl::SkipEmpty())) {
    size_t slash = line.find('/');
    if (slash != absl::string_view::npos) files.emplace(line.substr(slash));
  }
  return {files.begin(), files.end()};
}

std::string ReadMainScript(const ProcessFacts& facts, size_t max_bytes, const std::string& proc_root) {
  // python [options] script.py ...: the first argument that is not an option (or an option's
  // value: -W/-X/-Q take one) is the script; "-m mod" and "-c code" have none.
  for (size_t i = 1; i < facts.argv.size(); ++i) {
    const std::string& a = facts.argv[i];
    if (a == "-m" || a == "-c" || a == "-") return "";
    if (a == "-W" || a == "-X" || a == "-Q") {
      ++i;
      continue;
    }
    if (absl::StartsWith(a, "-")) continue;
    // Inside the target's root for an absolute script, beneath its working directory for a
    // relative one: resolution never leaves either.
    std::string pid_dir = absl::StrCat(proc_root, "/", facts.stat.pid);
    target_files::Rules rules{.max_bytes = target_files::kMaxScriptBytes};
    target_files::Opened opened = a[0] == '/' ? target_files::OpenInRoot(pid_dir + "/root", a, rules)
                                              : target_files::OpenBeneath(pid_dir + "/cwd", a, rules);
    if (!opened.ok()) return "";
    return target_files::ReadOpened(opened.fd.get(), max_bytes).value_or("");
  }
  return "";
}

std::string ReadEnvironVar(pid_t pid, const std::string& name, const std::string& proc_root) {
  std::string env = ReadAll(absl::StrCat(proc_root, "/", pid, "/environ"), 256 * 1024);
  std::string prefix = name + "=";
  for (absl::string_view var : absl::StrSplit(env, '\0', absl::SkipEmpty()))
    if (absl::StartsWith(var, prefix)) return std::string(var.substr(prefix.size()));
  return "";
}

bool IsPythonExecutable(const std::string& path) {
  std::string base = Basename(path);
  if (!absl::StartsWith(base, "python")) return false;
  for (char c : base.substr(6))
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'm' && c != 'd') return false;
  return true;
}

int CountListeningSockets(pid_t pid, const std::string& proc_root) {
  constexpr size_t kMaxFds = 4096;
  std::set<uint64_t> sockets;
  for (const target_files::SocketFd& s :
       target_files::ListSocketFds(absl::StrCat(proc_root, "/", pid, "/fd"), kMaxFds))
    sockets.insert(s.inode);
  if (sockets.empty()) return 0;
  int listening = 0;
  // tcp/tcp6: "sl local rem st ... inode" with st 0A = LISTEN; unix: "Num RefCount Protocol
  // Flags Type St Inode Path" with Flags 00010000 (__SO_ACCEPTCON) on a listening socket.
  for (const char* table : {"tcp", "tcp6", "unix"}) {
    bool unix_table = absl::string_view(table) == "unix";
    std::string text = ReadAll(absl::StrCat(proc_root, "/", pid, "/net/", table), 16 << 20);
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      uint64_t inode = 0;
      if (unix_table) {
        if (f.size() < 7 || f[3] != "00010000" || !absl::SimpleAtoi(f[6], &inode)) continue;
      } else {
        if (f.size() < 10 || f[3] != "0A" || !absl::SimpleAtoi(f[9], &inode)) continue;
      }
      listening += sockets.count(inode) ? 1 : 0;
    }
  }
  return listening;
}

}  // namespace stallscope
