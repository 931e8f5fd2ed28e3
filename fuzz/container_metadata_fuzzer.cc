// Container runtime state files a container's owner can influence: OCI config.json annotations
// (containerd, CRI-O) and Docker's config.v2.json labels (JSON), and the kubelet's etc-hosts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "identity/container_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto labels = stallscope::ParseContainerLabels(text); labels.ok()) {
    stallscope::ContainerMetadata meta;
    meta.labels = *std::move(labels);
    stallscope::FillKubernetesFromLabels(meta);
  }
  stallscope::PodNameFromEtcHosts(text);
  return 0;
}
