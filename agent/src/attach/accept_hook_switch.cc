#include "attach/accept_hook_switch.h"

#include <bpf/libbpf.h>

#include <cstdio>
#include <string>
#include <utility>

namespace stallscope {

AcceptHookSwitch::~AcceptHookSwitch() {
  worker_.Post([this] {
    for (bpf_link* link : links_) bpf_link__destroy(link);
    links_.clear();
  });
}

void AcceptHookSwitch::Tick(bool wanted, uint64_t now_ns) {
  if (wanted) last_wanted_ns_ = now_ns;
  if (wanted && !on_) {
    on_ = true;
    worker_.Post([this] {
      absl::StatusOr<std::vector<bpf_link*>> links = probes_->AttachAcceptHooks();
      if (!links.ok()) {
        fprintf(stderr, "stallscope: warning: %s; accept waits of saturated pools not measured\n",
                std::string(links.status().message()).c_str());
        return;
      }
      links_ = std::move(*links);
      probes_->SetAcceptCounting(true);
      attached_.fetch_add(1, std::memory_order_relaxed);
    });
  } else if (!wanted && on_ && now_ns - last_wanted_ns_ >= linger_ns_) {
    on_ = false;
    worker_.Post([this] {
      probes_->SetAcceptCounting(false);
      worker_.DetachLater([links = std::move(links_)] {
        for (bpf_link* link : links) bpf_link__destroy(link);
      });
      links_.clear();
    });
  }
}

}  // namespace stallscope
