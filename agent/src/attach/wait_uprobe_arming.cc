#include "attach/wait_uprobe_arming.h"

#include <chrono>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "symbolize/elf_symbols.h"
#include "symbolize/proc_maps.h"
#include "target_files/target_files.h"

namespace stallscope {
namespace {

// glibc's libc.so.6 (or libc-2.x.so), musl's libc.musl-*.so.1 / ld-musl-*.so.1 (musl's libc
// is its dynamic loader).
bool IsLibc(const symbolize::MemoryMapping& mapping) {
  std::string name = mapping.ModuleName();
  return mapping.executable && mapping.IsFile() &&
         (name.starts_with("libc.so") || name.starts_with("libc-") ||
          name.starts_with("libc.musl") || name.starts_with("ld-musl"));
}

target_files::Opened OpenLibc(const std::string& proc_root, pid_t pid, uint64_t start,
                              uint64_t end) {
  return target_files::OpenMappedObject(proc_root, pid, start, end,
                                        {.max_bytes = target_files::kMaxElfBytes, .owner = {}});
}

}  // namespace

std::optional<WaitFunctions> FindWaitFunctions(const std::string& proc_root, pid_t pid) {
  absl::StatusOr<std::vector<symbolize::MemoryMapping>> maps = symbolize::ReadProcMaps(proc_root, pid);
  if (!maps.ok()) return std::nullopt;
  for (const symbolize::MemoryMapping& mapping : *maps) {
    if (!IsLibc(mapping)) continue;
    target_files::Opened opened = OpenLibc(proc_root, pid, mapping.start, mapping.end);
    if (!opened.ok()) continue;
    std::optional<symbolize::ElfInfo> info = symbolize::ReadElfInfo(opened.fd.get());
    if (!info.has_value()) continue;
    std::vector<std::optional<uint64_t>> symbols =
        symbolize::LookupSymbols(opened.fd.get(), {"epoll_wait", "epoll_pwait"});
    auto offset_of = [&](const std::optional<uint64_t>& vaddr) -> uint64_t {
      if (!vaddr.has_value() || *vaddr == 0) return 0;
      return symbolize::VaddrToFileOffset(*info, *vaddr).value_or(0);
    };
    WaitFunctions found{.map_start = mapping.start,
                        .map_end = mapping.end,
                        .epoll_wait = offset_of(symbols[0]),
                        .epoll_pwait = offset_of(symbols[1])};
    if (found.epoll_wait || found.epoll_pwait) return found;
  }
  return std::nullopt;
}

WaitUprobeArming::~WaitUprobeArming() {
  worker_.Post([this] {
    for (auto& [tgid, links] : links_) {
      probes_->SetWaitUprobesArmed(tgid, false);
      worker_.DetachLater([links = std::move(links)] {
        for (const ProbeSession::WaitUprobeLink& link : links) ProbeSession::DetachWaitUprobe(link);
      });
    }
    links_.clear();
  });
}

void WaitUprobeArming::OnSuspect(pid_t tgid, uint64_t now_ns) {
  if (armed_at_.contains(tgid)) return;
  armed_at_[tgid] = now_ns;
  worker_.Post([this, tgid] { Arm(tgid); });
}

void WaitUprobeArming::OnHit(pid_t tgid) {
  if (armed_at_.erase(tgid) == 0) return;
  worker_.Post([this, tgid] { Disarm(tgid); });
}

void WaitUprobeArming::Tick(uint64_t now_ns) {
  std::vector<pid_t> stale;
  for (const auto& [tgid, at] : armed_at_)
    if (now_ns - at >= max_armed_ns_) stale.push_back(tgid);
  for (pid_t tgid : stale) {
    armed_at_.erase(tgid);
    disarmed_without_hit_.fetch_add(1, std::memory_order_relaxed);
    worker_.Post([this, tgid] { Disarm(tgid); });
  }
}

void WaitUprobeArming::ForgetProcess(pid_t tgid) {
  armed_at_.erase(tgid);
  worker_.Post([this, tgid] {
    Disarm(tgid);
    auto it = resolved_.find(tgid);
    if (it == resolved_.end()) return;
    if (it->second.libc.valid()) --open_libcs_;
    resolved_.erase(it);
  });
}

WaitUprobeArming::Stats WaitUprobeArming::stats() const {
  return {.arms = arms_.load(std::memory_order_relaxed),
          .arm_failures = arm_failures_.load(std::memory_order_relaxed),
          .disarmed_without_hit = disarmed_without_hit_.load(std::memory_order_relaxed)};
}

void WaitUprobeArming::Arm(pid_t tgid) {
  if (links_.contains(tgid)) return;
  auto [it, inserted] = resolved_.try_emplace(tgid);
  Resolved& r = it->second;
  if (inserted) r.functions = FindWaitFunctions(proc_root_, tgid);
  if (!r.functions.has_value()) {
    arm_failures_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // The kernel finds the uprobe's file by path: our own fd of the mapped inode, so the target
  // cannot redirect the name between our check and the kernel's lookup.
  target_files::ScopedFd opened_now;
  int libc = r.libc.get();
  if (libc < 0) {
    target_files::Opened opened =
        OpenLibc(proc_root_, tgid, r.functions->map_start, r.functions->map_end);
    if (!opened.ok()) {
      arm_failures_.fetch_add(1, std::memory_order_relaxed);
      resolved_.erase(tgid);  // remapped (exec): resolve again next time (no fd kept yet)
      return;
    }
    libc = opened.fd.get();
    if (open_libcs_ < kMaxOpenLibcs) {
      r.libc = std::move(opened.fd);
      ++open_libcs_;
    } else {
      opened_now = std::move(opened.fd);
    }
  }
  const WaitFunctions f = *r.functions;
  const std::string path = absl::StrCat("/proc/self/fd/", libc);
  std::vector<ProbeSession::WaitUprobeLink> links;
  bool failed = false;
  for (auto [function, offset] : {std::pair{ProbeSession::WaitFunction::kEpollWait, f.epoll_wait},
                                  std::pair{ProbeSession::WaitFunction::kEpollPwait, f.epoll_pwait}}) {
    if (offset == 0) continue;
    absl::StatusOr<ProbeSession::WaitUprobeLink> link =
        probes_->AttachWaitUprobe(function, tgid, path, offset);
    if (link.ok())
      links.push_back(*link);
    else
      failed = true;
  }
  if (failed || links.empty()) {
    arm_failures_.fetch_add(1, std::memory_order_relaxed);
    links_[tgid] = std::move(links);
    Disarm(tgid);
    return;
  }
  probes_->SetWaitUprobesArmed(tgid, true);
  links_[tgid] = std::move(links);
  arms_.fetch_add(1, std::memory_order_relaxed);
}

void WaitUprobeArming::Disarm(pid_t tgid) {
  probes_->SetWaitUprobesArmed(tgid, false);
  auto it = links_.find(tgid);
  if (it == links_.end()) return;
  worker_.DetachLater([links = std::move(it->second)] {
    for (const ProbeSession::WaitUprobeLink& link : links) ProbeSession::DetachWaitUprobe(link);
  });
  links_.erase(it);
}

}  // namespace stallscope
