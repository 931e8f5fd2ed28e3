// /proc/PID/maps: parsed for symbolization, and scanned by discovery (mapped files) and gevent
// detection, each read from a file as the agent reads it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/process_facts.h"
#include "fuzz_support.h"
#include "proc/runtime_detect.h"
#include "symbolize/proc_maps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static stallscope::fuzz::ScratchTree proc;
  constexpr pid_t kPid = 4242;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& mapping : stallscope::symbolize::ParseProcMaps(text)) {
    mapping.ModuleName();
    mapping.IsFile();
  }
  proc.Write("4242/maps", text);
  (void)stallscope::symbolize::ReadProcMaps(proc.root(), kPid);
  stallscope::ReadMappedFiles(kPid, proc.root());
  stallscope::ProcessRunsGevent(kPid, proc.root());
  return 0;
}
