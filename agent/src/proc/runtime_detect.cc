#include "proc/runtime_detect.h"

#include <fstream>

namespace stallscope {

bool ProcessRunsGevent(pid_t pid, const std::string& proc_root) {
  std::ifstream maps(proc_root + "/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // Only shared objects count: a path that merely contains "gevent" elsewhere does not.
    size_t at = line.find("/gevent/");
    if (at != std::string::npos && line.find(".so", at) != std::string::npos) return true;
  }
  return false;
}

}  // namespace stallscope
