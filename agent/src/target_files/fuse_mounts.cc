#include "target_files/fuse_mounts.h"

#include <algorithm>
#include <optional>

#include "target_files/counters.h"
#include "target_files/mountinfo.h"
#include "target_files/target_files.h"

namespace stallscope::target_files {
namespace {

bool AtOrUnder(std::string_view dir, std::string_view point) {
  if (point == "/") return true;
  return dir.starts_with(point) && (dir.size() == point.size() || dir[point.size()] == '/');
}

bool AtOrUnderAny(std::string_view dir, const std::vector<std::string>& points) {
  return std::any_of(points.begin(), points.end(),
                     [&](const std::string& p) { return AtOrUnder(dir, p); });
}

}  // namespace

bool PathCrossesMountPoint(std::string_view path, const std::vector<std::string>& points) {
  if (points.empty()) return false;
  std::string dir = "/";
  size_t at = 0;
  while (at < path.size()) {
    size_t end = path.find('/', at);
    if (end == std::string_view::npos) end = path.size();
    std::string_view name = path.substr(at, end - at);
    at = end + 1;
    if (name.empty() || name == ".") continue;
    // `name` is looked up in `dir` (".." too, to be safe: it crosses no mount of its own).
    if (AtOrUnderAny(dir, points)) return true;
    if (name == "..") {
      dir.resize(std::max<size_t>(dir.rfind('/'), 1));
      continue;
    }
    if (dir.size() > 1) dir.push_back('/');
    dir.append(name);
  }
  return AtOrUnderAny(dir, points);
}

FuseMounts::View FuseMounts::Read(const std::string& proc_dir) {
  View view;
  view.read_at = absl::Now();
  Opened file = OpenProcFile(proc_dir + "/mountinfo");
  if (!file.ok()) {
    CountShed(Shed::kMountinfoUnread);
    return view;
  }
  bool truncated = false;
  std::vector<MountEntry> mounts =
      ReadMountinfo(file.fd.get(), kMaxMountinfoBytes, kMaxMounts, &truncated);
  view.everything_suspect = truncated;
  view.ids.reserve(mounts.size());
  for (MountEntry& m : mounts) {
    view.ids.push_back(m.mount_id);
    if (!IsFuseType(m.fstype)) continue;
    view.fuse_ids.push_back(m.mount_id);
    view.fuse_devs.emplace_back(m.major, m.minor);
    view.fuse_points.push_back(std::move(m.mount_point));
  }
  std::sort(view.ids.begin(), view.ids.end());
  return view;
}

FuseMounts::View& FuseMounts::Current(const std::string& proc_dir, bool stale_soon) {
  absl::Time now = absl::Now();
  auto it = views_.find(proc_dir);
  if (it != views_.end()) {
    absl::Duration age = now - it->second.read_at;
    if (age < (stale_soon ? kUnknownIdRetry : kMaxAge)) return it->second;
    it->second = Read(proc_dir);
    return it->second;
  }
  if (views_.size() >= kMaxTargets) {
    auto oldest = std::min_element(views_.begin(), views_.end(), [](const auto& a, const auto& b) {
      return a.second.read_at < b.second.read_at;
    });
    views_.erase(oldest);
  }
  return views_.emplace(proc_dir, Read(proc_dir)).first->second;
}

bool FuseMounts::FuseIn(const std::string& proc_dir, uint64_t mount_id,
                        std::pair<uint32_t, uint32_t> dev) {
  View* view = &Current(proc_dir, /*stale_soon=*/false);
  // A mount the last read did not list may be newer than it: read again (rate-limited).
  if (!std::binary_search(view->ids.begin(), view->ids.end(), mount_id))
    view = &Current(proc_dir, /*stale_soon=*/true);
  if (view->everything_suspect) return true;
  auto has = [](const auto& list, const auto& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  return has(view->fuse_ids, mount_id) || has(view->fuse_devs, dev);
}

bool FuseMounts::IsFuseMount(const std::string& proc_dir, uint64_t mount_id, uint32_t major,
                             uint32_t minor, const std::string& own_proc_dir) {
  std::lock_guard<std::mutex> lock(mu_);
  return FuseIn(proc_dir, mount_id, {major, minor}) ||
         (!own_proc_dir.empty() && FuseIn(own_proc_dir, mount_id, {major, minor}));
}

bool FuseMounts::PathOnFuse(const std::string& proc_dir, std::string_view path) {
  std::lock_guard<std::mutex> lock(mu_);
  const View& view = Current(proc_dir, /*stale_soon=*/false);
  return view.everything_suspect || PathCrossesMountPoint(path, view.fuse_points);
}

bool FuseMounts::HasFuseMountPoints(const std::string& proc_dir) {
  std::lock_guard<std::mutex> lock(mu_);
  const View& view = Current(proc_dir, /*stale_soon=*/false);
  return view.everything_suspect || !view.fuse_points.empty();
}

FuseMounts& TargetFuseMounts() {
  static FuseMounts* mounts = new FuseMounts;
  return *mounts;
}

}  // namespace stallscope::target_files
