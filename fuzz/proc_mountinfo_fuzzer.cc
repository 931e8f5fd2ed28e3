// /proc/PID/mountinfo of a target (its mount namespace: paths and filesystem names chosen by
// whoever mounts there), as the door reads it to learn the target's FUSE mounts: the streaming
// parser on an fd, one line on its own, and the door's view built from a fake /proc/PID.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "target_files/fuse_mounts.h"
#include "target_files/mountinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace tf = stallscope::target_files;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  stallscope::fuzz::MemFile file(text);
  bool truncated = false;
  auto mounts = tf::ReadMountinfo(file.fd(), 1 << 20, 64, &truncated);
  if (mounts.size() > 64) abort();
  for (const tf::MountEntry& m : mounts) {
    if (m.mount_point.empty() || m.mount_point[0] != '/') abort();
    tf::IsFuseType(m.fstype);
  }
  tf::ParseMountinfoLine(text.substr(0, text.find('\n')));

  static stallscope::fuzz::ScratchTree proc;
  proc.Write("4242/mountinfo", text);
  tf::FuseMounts view;  // a fresh cache: every input is read
  const std::string dir = proc.root() + "/4242";
  view.PathOnFuse(dir, "/tmp/perf-4242.map");
  view.PathOnFuse(dir, "/usr/../srv/./app//main.py");
  const tf::MountEntry first = mounts.empty() ? tf::MountEntry{} : mounts.front();
  view.IsFuseMount(dir, first.mount_id, first.major, first.minor, /*own_proc_dir=*/dir);
  return 0;
}
