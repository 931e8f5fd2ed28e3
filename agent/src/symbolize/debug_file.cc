#include "symbolize/debug_file.h"

#include <optional>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "absl/strings/str_cat.h"
#include "target_files/target_files.h"

namespace stallscope::symbolize {
namespace {

// Where distributions install debug files inside a root (target's or host's).
constexpr char kDebugDir[] = "/usr/lib/debug";

struct Candidate {
  std::string root;  // "" for host paths
  std::string path;
};

std::vector<Candidate> Candidates(const DebugFileSearch& search, const std::string& object_path,
                                  const ElfInfo& info) {
  std::vector<Candidate> candidates;
  std::string hex = info.BuildIdHex();
  if (hex.size() > 2) {
    std::string relative =
        absl::StrCat("/.build-id/", hex.substr(0, 2), "/", hex.substr(2), ".debug");
    candidates.push_back({search.target_root, absl::StrCat(kDebugDir, relative)});
    if (!search.host_debug_root.empty()) {
      candidates.push_back({"", absl::StrCat(search.host_debug_root, relative)});
    }
  }
  // The link is a bare file name; one with a slash could walk out of the debug directories.
  if (!info.debuglink.empty() && info.debuglink.find('/') == std::string::npos &&
      info.debuglink != "." && info.debuglink != "..") {
    std::string dir = object_path.substr(0, object_path.rfind('/'));
    const std::string& link = info.debuglink;
    candidates.push_back({search.target_root, absl::StrCat(kDebugDir, dir, "/", link)});
    candidates.push_back({search.target_root, absl::StrCat(dir, "/", link)});
    candidates.push_back({search.target_root, absl::StrCat(dir, "/.debug/", link)});
    if (!search.host_debug_root.empty()) {
      candidates.push_back({"", absl::StrCat(search.host_debug_root, dir, "/", link)});
    }
  }
  return candidates;
}

// Debug files matched only by CRC are read whole; past this size the check is not worth its time.
constexpr uint64_t kMaxCrcCheckedBytes = 256ull << 20;

// The .gnu_debuglink checksum is zlib's CRC-32 of the whole debug file.
bool CrcMatches(int fd, uint32_t expected) {
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) > kMaxCrcCheckedBytes) return false;
  uLong crc = crc32(0L, Z_NULL, 0);
  char buf[1 << 16];
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t n = pread(fd, buf, sizeof(buf), offset);
    if (n < 0) return false;
    if (n == 0) break;
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf), static_cast<uInt>(n));
    offset += n;
  }
  return static_cast<uint32_t>(crc) == expected;
}

}  // namespace

ScopedFd FindDebugFile(const DebugFileSearch& search, const std::string& object_path,
                       const ElfInfo& info) {
  for (const Candidate& candidate : Candidates(search, object_path, info)) {
    if (candidate.path.empty() || candidate.path[0] != '/') continue;
    // .build-id entries are often symlinks: followed, but only inside the same root.
    target_files::Opened opened = target_files::OpenInRoot(
        candidate.root, candidate.path, {.max_bytes = target_files::kMaxElfBytes,
                                         .follow_symlinks_in_root = true});
    if (!opened.ok()) continue;
    ScopedFd fd = std::move(opened.fd);
    std::optional<ElfInfo> debug_info = ReadElfInfo(fd.get());
    if (!debug_info || !debug_info->has_symtab) continue;
    // Build-ids identify the build exactly; without them fall back to the link's CRC.
    if (!info.build_id.empty() && !debug_info->build_id.empty()) {
      if (info.build_id != debug_info->build_id) continue;
    } else if (info.debuglink.empty() || !CrcMatches(fd.get(), info.debuglink_crc)) {
      continue;
    }
    return fd;
  }
  return ScopedFd();
}

}  // namespace stallscope::symbolize
