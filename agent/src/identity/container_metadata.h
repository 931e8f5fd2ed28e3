// What the node's container runtime and kubelet say about a container, read from their state
// files (no API calls, nothing to authenticate): Kubernetes pod name, namespace and container
// name, and the container's labels/annotations (for `label:` selectors and service rules).
//
//   containerd  run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json
//   CRI-O       run/containers/storage/overlay-containers/<id>/userdata/config.json
//   Podman      var/lib/containers/storage/overlay-containers/<id>/userdata/config.json
//   Docker      var/lib/docker/containers/<id>/config.v2.json (Config.Labels)
//   kubelet     var/lib/kubelet/pods/<uid>/ (etc-hosts, the service-account namespace file,
//               containers/<name>/), when the runtime's files are not visible
//
// All paths are under `host_root` ("/" on the node; where the node's filesystem is mounted in
// the agent's container).
#ifndef STALLSCOPE_AGENT_IDENTITY_CONTAINER_METADATA_H_
#define STALLSCOPE_AGENT_IDENTITY_CONTAINER_METADATA_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace stallscope {

struct ContainerMetadata {
  std::string pod;
  std::string pod_namespace;
  std::string container;
  std::map<std::string, std::string> labels;  // OCI annotations or Docker labels
};

// Labels/annotations of an OCI config.json or Docker config.v2.json text.
absl::StatusOr<std::map<std::string, std::string>> ParseContainerLabels(const std::string& json);

// Pod, namespace and container from the runtime's Kubernetes labels (containerd's CRI
// annotations, CRI-O's and cri-dockerd's io.kubernetes.* labels).
void FillKubernetesFromLabels(ContainerMetadata& meta);

// Pod name from a kubelet-written /etc/hosts ("<ip>\t<pod-name>" after the comment), "" if none.
std::string PodNameFromEtcHosts(const std::string& etc_hosts);

// Looks the container up in the runtime's and the kubelet's files. Missing files give empty
// fields, never an error.
ContainerMetadata ReadContainerMetadata(const std::string& host_root, const std::string& container_id,
                                        const std::string& runtime, const std::string& pod_uid);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_IDENTITY_CONTAINER_METADATA_H_
