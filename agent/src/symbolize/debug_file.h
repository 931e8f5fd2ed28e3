// Finding the separate debug file of an object, the way gdb does: by build-id under
// .build-id/, then by the .gnu_debuglink name in the debug directory and next to the object.
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_DEBUG_FILE_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_DEBUG_FILE_H_

#include <string>

#include "symbolize/elf_symbols.h"
#include "target_files/scoped_fd.h"

namespace stallscope::symbolize {

using target_files::ScopedFd;

struct DebugFileSearch {
  std::string target_root;  // the process's root, e.g. /proc/PID/root
  std::string host_debug_root;  // e.g. /usr/lib/debug on the host
};

// An open debug file with a .symtab for the object at `object_path` (a path inside the target's
// root) described by `info`, or an invalid fd. A candidate whose build-id differs from the
// object's (or, without build-ids, whose CRC differs from the .gnu_debuglink one) is rejected,
// so a stale debug file never gives wrong names.
ScopedFd FindDebugFile(const DebugFileSearch& search, const std::string& object_path,
                       const ElfInfo& info);

}  // namespace stallscope::symbolize

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_DEBUG_FILE_H_
