#include "core/thread_classifier.h"

namespace stallscope {

bool WaitSetShowsEventLoop(const std::vector<FdKind>& members) {
  int connections = 0;
  int known = 0;
  for (FdKind kind : members) {
    // An fd that closed before we looked says nothing about what the thread multiplexes.
    if (kind == FdKind::kUnknown) continue;
    ++known;
    if (kind == FdKind::kTcpConnection || kind == FdKind::kUnixNamedConnection) ++connections;
  }
  return connections >= 1 && known >= 2;
}

}  // namespace stallscope
