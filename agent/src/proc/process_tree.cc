#include "proc/process_tree.h"

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "target_files/target_strings.h"
#include "proc/proc_stat.h"
#include "target_files/target_files.h"

namespace stallscope {
namespace {

// The first line of a small /proc file of the process, read through the target-files door.
std::optional<std::string> FirstLine(const std::string& path) {
  std::optional<std::string> text = target_files::ReadProcFile(path);
  if (!text) return std::nullopt;
  text->resize(std::min(text->size(), text->find('\n')));
  return text;
}

std::string PidDir(const std::string& proc_root, pid_t pid) {
  return proc_root + "/" + std::to_string(pid);
}

}  // namespace

std::optional<pid_t> ThreadGroupOf(pid_t pid, const std::string& proc_root) {
  std::optional<std::string> text = target_files::ReadProcFile(PidDir(proc_root, pid) + "/status");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Tgid:", 0) == 0) {
      int tgid = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(5)), &tgid) && tgid > 0) return tgid;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

namespace {

// A name the process chose (prctl(PR_SET_NAME) takes any bytes but NUL, a newline too): the
// whole file but the kernel's final newline, as target text.
std::string CommFile(const std::string& path) {
  std::string text = target_files::ReadProcFile(path).value_or("");
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return SanitizeTargetString(text, kMaxCommBytes);
}

}  // namespace

std::string ReadComm(pid_t pid, const std::string& proc_root) { return CommFile(PidDir(proc_root, pid) + "/comm"); }

std::string ReadThreadComm(pid_t pid, pid_t tid, const std::string& proc_root) {
  return CommFile(PidDir(proc_root, pid) + "/task/" + std::to_string(tid) + "/comm");
}

std::optional<uint64_t> ReadThreadCpuTimeNs(pid_t pid, pid_t tid, const std::string& proc_root) {
  std::optional<std::string> line =
      FirstLine(PidDir(proc_root, pid) + "/task/" + std::to_string(tid) + "/schedstat");
  if (!line) return std::nullopt;
  std::istringstream in(*line);
  uint64_t ns = 0;
  if (!(in >> ns)) return std::nullopt;
  return ns;
}

std::vector<pid_t> ListThreads(pid_t pid, const std::string& proc_root) {
  std::vector<pid_t> out;
  if (DIR* dir = opendir((proc_root + "/" + std::to_string(pid) + "/task").c_str())) {
    while (dirent* entry = readdir(dir)) {
      int tid = 0;
      if (absl::SimpleAtoi(entry->d_name, &tid) && tid > 0) out.push_back(tid);
    }
    closedir(dir);
  }
  return out;
}

std::optional<CurrentSyscall> ReadCurrentSyscall(pid_t pid, pid_t tid, const std::string& proc_root) {
  std::optional<std::string> first =
      FirstLine(PidDir(proc_root, pid) + "/task/" + std::to_string(tid) + "/syscall");
  if (!first) return std::nullopt;
  const std::string& line = *first;
  // "232 0x6 0x7ffd... 0x3ff 0xffffffff 0x0 0x0 SP PC" | "running" | "-1 SP PC"
  std::istringstream fields(line);
  CurrentSyscall out;
  std::string word;
  if (!(fields >> word)) return std::nullopt;
  if (word == "running" || !absl::SimpleAtoi(word, &out.nr) || out.nr < 0) return out;
  for (uint64_t& arg : out.args) {
    if (!(fields >> word)) return std::nullopt;
    arg = std::strtoull(word.c_str(), nullptr, 16);
  }
  out.in_syscall = true;
  return out;
}

std::vector<pid_t> FindDescendants(const std::vector<pid_t>& roots, const std::string& proc_root) {
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  if (DIR* dir = opendir(proc_root.c_str())) {
    while (dirent* entry = readdir(dir)) {
      int pid = 0;
      if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
      if (auto stat = ReadProcessStat(pid, proc_root)) children[stat->ppid].push_back(pid);
    }
    closedir(dir);
  }
  std::vector<pid_t> out;
  std::unordered_set<pid_t> seen(roots.begin(), roots.end());
  std::vector<pid_t> queue(roots.begin(), roots.end());
  while (!queue.empty()) {
    pid_t parent = queue.back();
    queue.pop_back();
    for (pid_t child : children[parent]) {
      if (!seen.insert(child).second) continue;
      out.push_back(child);
      queue.push_back(child);
    }
  }
  return out;
}

}  // namespace stallscope
