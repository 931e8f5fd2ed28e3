// What the door knows of a target's FUSE mounts, so that it never makes a request a FUSE daemon
// must answer: a target (a rootless container on fuse-overlayfs, bindfs, sshfs) can stop its
// daemon, and every lookup, open, getattr or read on that mount then waits for ever.
// Learnt from /proc/PID/mountinfo (procfs: reading it never reaches a FUSE daemon), cached per
// target, bounded in targets and mounts.
#ifndef STALLSCOPE_AGENT_TARGET_FILES_FUSE_MOUNTS_H_
#define STALLSCOPE_AGENT_TARGET_FILES_FUSE_MOUNTS_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace stallscope::target_files {

// Whether resolving the absolute `path` (as openat2 walks it, "." and ".." taken lexically)
// looks up a name in, or ends at, one of the mount points `points`.
bool PathCrossesMountPoint(std::string_view path, const std::vector<std::string>& points);

class FuseMounts {
 public:
  static constexpr size_t kMaxTargets = 32;       // cached views; the least recently read evicted
  static constexpr size_t kMaxMounts = 16384;     // per target; more and the whole root is suspect
  static constexpr size_t kMaxMountinfoBytes = 16 << 20;
  static constexpr absl::Duration kMaxAge = absl::Seconds(1);
  // An id not among the target's mounts re-reads its mountinfo, at most this often.
  static constexpr absl::Duration kUnknownIdRetry = absl::Milliseconds(100);

  // `proc_dir` is the target's /proc/PID (or a test's fake). A target whose mountinfo cannot
  // be read has no known FUSE mounts (counted as mountinfo_unread): the door behaves as before.
  // One with more than kMaxMounts mounts is treated as FUSE everywhere: it can only hide them.
  // A file is on FUSE when its mount is a FUSE mount of the target, or its device (one per
  // superblock) is that of a FUSE mount of the target or of the agent's own view
  // (`own_proc_dir`, /proc/self): a mount outside the target's root, or made in a copy of a
  // namespace, has an id the target's mountinfo does not list, but the same device.
  bool IsFuseMount(const std::string& proc_dir, uint64_t mount_id, uint32_t major, uint32_t minor,
                   const std::string& own_proc_dir = "/proc/self");
  bool PathOnFuse(const std::string& proc_dir, std::string_view path);
  // Whether the target has FUSE mount points in its view (or is suspect everywhere).
  bool HasFuseMountPoints(const std::string& proc_dir);

 private:
  struct View {
    absl::Time read_at;
    bool everything_suspect = false;
    std::vector<uint64_t> ids;  // every mount id, sorted
    std::vector<uint64_t> fuse_ids;
    std::vector<std::pair<uint32_t, uint32_t>> fuse_devs;  // major, minor
    std::vector<std::string> fuse_points;  // in the target's view
  };
  View& Current(const std::string& proc_dir, bool stale_soon);
  bool FuseIn(const std::string& proc_dir, uint64_t mount_id, std::pair<uint32_t, uint32_t> dev);
  static View Read(const std::string& proc_dir);

  std::mutex mu_;
  absl::flat_hash_map<std::string, View> views_;
};

// The door's one cache (target_files.cc consults it before touching any target file).
FuseMounts& TargetFuseMounts();

}  // namespace stallscope::target_files

#endif  // STALLSCOPE_AGENT_TARGET_FILES_FUSE_MOUNTS_H_
