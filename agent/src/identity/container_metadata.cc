#include "identity/container_metadata.h"

#include <dirent.h>

#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "target_files/target_files.h"

namespace stallscope {
namespace {

// The runtime's and kubelet's state files are on the host, but a container's labels and
// annotations are in them: read through the door (regular files, never blocking, size-capped).
std::string ReadSmallFile(const std::string& path) {
  target_files::Opened opened =
      target_files::OpenInRoot("", path, {.max_bytes = target_files::kMaxStateFileBytes,
                                          // the kubelet's projected files are ..data/ symlinks
                                          .follow_symlinks_in_root = true});
  if (!opened.ok()) return "";
  return target_files::ReadOpened(opened.fd.get(), target_files::kMaxStateFileBytes).value_or("");
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (!dir) return names;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

std::string Join(const std::string& root, const std::string& rest) {
  std::string r = root;
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r + "/" + rest;
}

const std::string* Get(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseContainerLabels(const std::string& json) {
  google::protobuf::Struct doc;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (auto st = google::protobuf::util::JsonStringToMessage(json, &doc, options); !st.ok())
    return absl::InvalidArgumentError(absl::StrCat("not JSON: ", std::string(st.message())));
  std::map<std::string, std::string> labels;
  auto add_all = [&labels](const google::protobuf::Value& v) {
    if (!v.has_struct_value()) return;
    for (const auto& [key, value] : v.struct_value().fields())
      if (value.has_string_value()) labels[key] = value.string_value();
  };
  const auto& fields = doc.fields();
  if (auto it = fields.find("annotations"); it != fields.end()) add_all(it->second);  // OCI
  if (auto it = fields.find("Config"); it != fields.end() && it->second.has_struct_value()) {  // Docker
    const auto& config = it->second.struct_value().fields();
    if (auto l = config.find("Labels"); l != config.end()) add_all(l->second);
  }
  return labels;
}

void FillKubernetesFromLabels(ContainerMetadata& meta) {
  struct Keys {
    const char* pod;
    const char* ns;
    const char* container;
  };
  constexpr Keys kKeys[] = {
      {"io.kubernetes.cri.sandbox-name", "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.container-name"},
      {"io.kubernetes.pod.name", "io.kubernetes.pod.namespace", "io.kubernetes.container.name"},
  };
  for (const Keys& k : kKeys) {
    if (const std::string* v = Get(meta.labels, k.pod); v && meta.pod.empty()) meta.pod = *v;
    if (const std::string* v = Get(meta.labels, k.ns); v && meta.pod_namespace.empty()) meta.pod_namespace = *v;
    if (const std::string* v = Get(meta.labels, k.container); v && meta.container.empty()) meta.container = *v;
  }
}

std::string PodNameFromEtcHosts(const std::string& etc_hosts) {
  // The kubelet writes its "# Kubernetes-managed hosts file" header, the localhost lines, then
  // "<pod-ip>\t<hostname>[.<subdomain>...]": the hostname is the pod name unless spec.hostname
  // overrides it.
  // HostAliases entries come after it, so the first non-loopback entry is the pod's.
  if (etc_hosts.find("Kubernetes-managed hosts file") == std::string::npos) return "";
  for (absl::string_view line : absl::StrSplit(etc_hosts, '\n', absl::SkipEmpty())) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 2) continue;
    bool loopback = absl::StartsWith(f[0], "127.") || f[0] == "::1" || absl::StartsWith(f[0], "fe00::") ||
                    absl::StartsWith(f[0], "fe02::");
    if (loopback) continue;
    return std::string(f[1].substr(0, f[1].find('.')));
  }
  return "";
}

ContainerMetadata ReadContainerMetadata(const std::string& host_root, const std::string& container_id,
                                        const std::string& runtime, const std::string& pod_uid) {
  ContainerMetadata meta;
  if (!container_id.empty()) {
    std::vector<std::string> candidates;
    if (runtime.empty() || runtime == "containerd") {
      std::string tasks = Join(host_root, "run/containerd/io.containerd.runtime.v2.task");
      for (const std::string& ns : ListDir(tasks))
        candidates.push_back(absl::StrCat(tasks, "/", ns, "/", container_id, "/config.json"));
    }
    if (runtime.empty() || runtime == "cri-o")
      candidates.push_back(Join(host_root, absl::StrCat("run/containers/storage/overlay-containers/", container_id,
                                                        "/userdata/config.json")));
    if (runtime.empty() || runtime == "podman")
      candidates.push_back(Join(host_root, absl::StrCat("var/lib/containers/storage/overlay-containers/",
                                                        container_id, "/userdata/config.json")));
    if (runtime.empty() || runtime == "docker")
      candidates.push_back(Join(host_root, absl::StrCat("var/lib/docker/containers/", container_id, "/config.v2.json")));
    for (const std::string& path : candidates) {
      std::string text = ReadSmallFile(path);
      if (text.empty()) continue;
      if (auto labels = ParseContainerLabels(text); labels.ok()) {
        meta.labels = std::move(*labels);
        break;
      }
    }
    FillKubernetesFromLabels(meta);
  }
  if (!pod_uid.empty() && (meta.pod.empty() || meta.pod_namespace.empty() || meta.container.empty())) {
    std::string pod_dir = Join(host_root, absl::StrCat("var/lib/kubelet/pods/", pod_uid));
    if (meta.pod.empty()) meta.pod = PodNameFromEtcHosts(ReadSmallFile(pod_dir + "/etc-hosts"));
    if (meta.pod_namespace.empty()) {
      // The projected service-account volume holds the pod's namespace (unless automount is off).
      std::string projected = pod_dir + "/volumes/kubernetes.io~projected";
      for (const std::string& vol : ListDir(projected)) {
        std::string ns(absl::StripAsciiWhitespace(ReadSmallFile(absl::StrCat(projected, "/", vol, "/namespace"))));
        if (!ns.empty()) {
          meta.pod_namespace = ns;
          break;
        }
      }
    }
    if (meta.container.empty()) {
      // One directory per container that ran (termination logs); only unambiguous with one.
      std::vector<std::string> containers = ListDir(pod_dir + "/containers");
      if (containers.size() == 1) meta.container = containers[0];
    }
  }
  return meta;
}

}  // namespace stallscope
