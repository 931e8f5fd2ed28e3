#include "proc/proc_stat.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "target_files/target_files.h"
#include "target_files/target_strings.h"

namespace stallscope {

std::optional<ProcessStat> ParseProcessStat(pid_t pid, absl::string_view text) {
  size_t open = text.find('('), close = text.rfind(')');
  // close + 2: the fields start after ") "; a record ending at ')' has none.
  if (open == absl::string_view::npos || close == absl::string_view::npos || close < open ||
      close + 2 > text.size())
    return std::nullopt;
  std::vector<absl::string_view> f = absl::StrSplit(text.substr(close + 2), absl::ByAnyChar(" \n"), absl::SkipEmpty());
  // f[0] = state (field 3), f[1] = ppid (4), f[6] = flags (9), f[19] = starttime (22)
  if (f.size() < 20 || f[0].size() != 1) return std::nullopt;
  ProcessStat st;
  int ppid = 0;
  uint64_t flags = 0;
  if (!absl::SimpleAtoi(f[1], &ppid) || !absl::SimpleAtoi(f[6], &flags) || !absl::SimpleAtoi(f[19], &st.start_ticks))
    return std::nullopt;
  st.pid = pid;
  st.ppid = ppid;
  st.state = f[0][0];
  constexpr uint64_t kPfKthread = 0x00200000;
  st.kernel_thread = (flags & kPfKthread) != 0;
  st.comm = SanitizeTargetString(std::string_view(text.data() + open + 1, close - open - 1), kMaxCommBytes);
  return st;
}

std::optional<ProcessStat> ReadProcessStat(pid_t pid, const std::string& proc_root) {
  // 4 KiB: 52 numbers and a comm of at most 64 bytes.
  std::optional<std::string> text = target_files::ReadProcFile(absl::StrCat(proc_root, "/", pid, "/stat"), 4096);
  if (!text) return std::nullopt;
  return ParseProcessStat(pid, *text);
}

}  // namespace stallscope
