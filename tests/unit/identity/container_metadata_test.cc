// Container runtime and kubelet state files, in the shapes containerd, CRI-O, Docker
// (cri-dockerd) and the kubelet write them, laid out under a temporary host root.
#include "identity/container_metadata.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace stallscope {
namespace {

namespace fs = std::filesystem;
constexpr char kId[] = "8d2b5f3e9c1a47b6a0e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e";
constexpr char kUid[] = "5b3d9f1e-7a2c-4e8b-9d6f-0c1a2b3c4d5e";

class HostRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("stallscope-host-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  fs::path root_;
};

TEST_F(HostRoot, ContainerdCriAnnotations) {
  Write(std::string("run/containerd/io.containerd.runtime.v2.task/k8s.io/") + kId + "/config.json",
        R"({"ociVersion":"1.1.0","process":{"args":["gunicorn"]},"annotations":{
            "io.kubernetes.cri.container-type":"container",
            "io.kubernetes.cri.container-name":"web",
            "io.kubernetes.cri.sandbox-name":"checkout-7d9f8b6c5-x2x9k",
            "io.kubernetes.cri.sandbox-namespace":"shop",
            "io.kubernetes.cri.sandbox-uid":"5b3d9f1e-7a2c-4e8b-9d6f-0c1a2b3c4d5e"}})");
  ContainerMetadata m = ReadContainerMetadata(root_, kId, "containerd", kUid);
  EXPECT_EQ(m.pod, "checkout-7d9f8b6c5-x2x9k");
  EXPECT_EQ(m.pod_namespace, "shop");
  EXPECT_EQ(m.container, "web");
  EXPECT_EQ(m.labels.at("io.kubernetes.cri.container-type"), "container");
}

TEST_F(HostRoot, CrioAnnotations) {
  Write(std::string("run/containers/storage/overlay-containers/") + kId + "/userdata/config.json",
        R"({"annotations":{"io.kubernetes.container.name":"api","io.kubernetes.pod.name":"api-0",
            "io.kubernetes.pod.namespace":"billing"}})");
  ContainerMetadata m = ReadContainerMetadata(root_, kId, "cri-o", "");
  EXPECT_EQ(m.pod, "api-0");
  EXPECT_EQ(m.pod_namespace, "billing");
  EXPECT_EQ(m.container, "api");
}

TEST_F(HostRoot, DockerLabelsWhenTheRuntimeIsUnknown) {
  // cgroupfs paths do not name the runtime: every runtime's files are tried.
  Write(std::string("var/lib/docker/containers/") + kId + "/config.v2.json",
        R"({"ID":"x","Config":{"Image":"shop:1","Labels":{"com.docker.compose.service":"shop",
            "io.kubernetes.pod.name":"shop-abcde","io.kubernetes.pod.namespace":"default",
            "io.kubernetes.container.name":"shop"}}})");
  ContainerMetadata m = ReadContainerMetadata(root_, kId, "", "");
  EXPECT_EQ(m.pod, "shop-abcde");
  EXPECT_EQ(m.pod_namespace, "default");
  EXPECT_EQ(m.labels.at("com.docker.compose.service"), "shop");
}

TEST_F(HostRoot, KubeletPodDirectoryWhenRuntimeFilesAreNotMounted) {
  std::string pod = std::string("var/lib/kubelet/pods/") + kUid;
  Write(pod + "/etc-hosts",
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nfe00::1\tip6-allnodes\n10.244.1.7\tcheckout-7d9f8b6c5-x2x9k\n\n"
        "# Entries added by HostAliases.\n10.0.0.9\tdb.internal\n");
  Write(pod + "/volumes/kubernetes.io~projected/kube-api-access-8xk2p/namespace", "shop");
  Write(pod + "/containers/web/3c1f2e0a", "");
  ContainerMetadata m = ReadContainerMetadata(root_, kId, "containerd", kUid);
  EXPECT_EQ(m.pod, "checkout-7d9f8b6c5-x2x9k");
  EXPECT_EQ(m.pod_namespace, "shop");
  EXPECT_EQ(m.container, "web");
}

TEST_F(HostRoot, NothingVisibleGivesEmptyFields) {
  ContainerMetadata m = ReadContainerMetadata(root_, kId, "", kUid);
  EXPECT_EQ(m.pod, "");
  EXPECT_EQ(m.container, "");
  EXPECT_TRUE(m.labels.empty());
}

TEST(ContainerLabelsTest, RejectsGarbage) {
  EXPECT_FALSE(ParseContainerLabels("{not json").ok());
  EXPECT_TRUE(ParseContainerLabels("{}")->empty());
}

TEST(EtcHostsTest, SubdomainAndNonKubernetesFiles) {
  EXPECT_EQ(PodNameFromEtcHosts("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                                "10.1.2.3\tweb-0.web.shop.svc.cluster.local\tweb-0\n"),
            "web-0");
  EXPECT_EQ(PodNameFromEtcHosts("127.0.0.1 localhost\n10.1.2.3 myhost\n"), "");
}

}  // namespace
}  // namespace stallscope
