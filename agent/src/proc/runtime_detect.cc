#include "proc/runtime_detect.h"

#include "target_files/target_files.h"

namespace stallscope {

bool ProcessRunsGevent(pid_t pid, const std::string& proc_root) {
  target_files::Opened maps =
      target_files::OpenProcFile(proc_root + "/" + std::to_string(pid) + "/maps");
  if (!maps.ok()) return false;
  target_files::LineReader lines(maps.fd.get(), target_files::kMaxProcMapsBytes);
  std::string_view line;
  while (lines.Next(&line)) {
    // Only shared objects count: a path that merely contains "gevent" elsewhere does not.
    size_t at = line.find("/gevent/");
    if (at != std::string_view::npos && line.find(".so", at) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace stallscope
