#include "identity/cgroup_identity.h"

#include <algorithm>
#include <cctype>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace stallscope {
namespace {

bool IsLowerHex(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

// Container ids are 64 hex digits; a path component names one either bare (cgroupfs driver:
// /docker/<id>, /kubepods/burstable/pod<uid>/<id>) or wrapped by the systemd driver as
// "<runtime-prefix>-<id>.scope".
struct ScopePrefix {
  absl::string_view prefix;
  absl::string_view runtime;
};
constexpr ScopePrefix kScopePrefixes[] = {
    {"cri-containerd-", "containerd"},
    {"crio-", "cri-o"},
    {"docker-", "docker"},
    {"libpod-", "podman"},
};

// A Kubernetes pod component: "pod<uid>" (cgroupfs, dashes) or
// "kubepods-<qos>-pod<uid_with_underscores>.slice" / "kubepods-pod<uid>.slice" (systemd).
bool ParsePodComponent(absl::string_view c, std::string* uid) {
  if (absl::ConsumeSuffix(&c, ".slice")) {
    size_t at = c.rfind("-pod");
    if (at == absl::string_view::npos || !absl::StartsWith(c, "kubepods")) return false;
    c.remove_prefix(at + 4);
  } else if (!absl::ConsumePrefix(&c, "pod")) {
    return false;
  }
  std::string out(c);
  std::replace(out.begin(), out.end(), '_', '-');
  if (out.size() != 36) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? out[i] != '-' : !IsLowerHex(absl::string_view(&out[i], 1))) return false;
  }
  *uid = std::move(out);
  return true;
}

std::string QosOf(absl::string_view c) {
  for (absl::string_view qos : {"burstable", "besteffort"})
    if (absl::StrContains(c, qos)) return std::string(qos);
  return "";
}

}  // namespace

CgroupIdentity ParseCgroupPath(const std::string& path) {
  CgroupIdentity id;
  id.cgroup_path = path;
  bool in_kubepods = false;
  absl::string_view previous;
  for (absl::string_view c : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (absl::StartsWith(c, "kubepods")) in_kubepods = true;
    // systemd: kubepods-burstable.slice; cgroupfs: /kubepods/burstable/
    if (in_kubepods)
      if (std::string qos = QosOf(c); !qos.empty()) id.qos_class = qos;
    std::string uid;
    if (in_kubepods && ParsePodComponent(c, &uid)) id.pod_uid = uid;
    absl::string_view scope = c;
    if (absl::ConsumeSuffix(&scope, ".scope")) {
      // crio-conmon-<id>.scope is CRI-O's monitor process, not the container.
      for (const ScopePrefix& p : kScopePrefixes) {
        absl::string_view rest = scope;
        if (absl::ConsumePrefix(&rest, p.prefix) && rest.size() == 64 && IsLowerHex(rest)) {
          id.container_id = std::string(rest);
          id.runtime = std::string(p.runtime);
        }
      }
    } else if (c.size() == 64 && IsLowerHex(c)) {
      id.container_id = std::string(c);
      // cgroupfs driver: /docker/<id> names Docker; under /kubepods the runtime is not in the path.
      id.runtime = previous == "docker" ? "docker" : previous == "libpod_parent" ? "podman" : "";
    }
    previous = c;
  }
  if (id.pod_uid.empty() && !in_kubepods) id.qos_class.clear();
  if (in_kubepods && id.qos_class.empty() && !id.pod_uid.empty()) id.qos_class = "guaranteed";
  return id;
}

CgroupIdentity ParseCgroupFile(const std::string& cgroup_file) {
  // v2 has one line "0::/path". v1 has one per hierarchy (and hybrid systems both); every
  // hierarchy of a container names the same container, so the first line with an id wins.
  // Without one, the path shown is the v2 one unless it is the root and a v1 hierarchy says more.
  CgroupIdentity v2, v1;
  bool have_v2 = false, have_v1 = false;
  for (absl::string_view line : absl::StrSplit(cgroup_file, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    CgroupIdentity id = ParseCgroupPath(std::string(parts[2]));
    if (!id.container_id.empty() || !id.pod_uid.empty()) return id;
    if (parts[0] == "0" && parts[1].empty()) {
      v2 = id;
      have_v2 = true;
    } else if (!have_v1 && parts[2] != "/") {
      v1 = id;
      have_v1 = true;
    }
  }
  if (have_v2 && (v2.cgroup_path != "/" || !have_v1)) return v2;
  return have_v1 ? v1 : v2;
}

}  // namespace stallscope
