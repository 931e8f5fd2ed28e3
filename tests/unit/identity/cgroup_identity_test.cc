// /proc/PID/cgroup texts as the kernel shows them for processes in containers, one per runtime,
// cgroup driver and cgroup version (recorded from real nodes; ids shortened nowhere: the parser
// needs all 64 hex digits).
#include "identity/cgroup_identity.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace stallscope {
namespace {

constexpr char kId[] = "8d2b5f3e9c1a47b6a0e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e";
const std::string kUid = "5b3d9f1e-7a2c-4e8b-9d6f-0c1a2b3c4d5e";
const std::string kUidUnderscores = "5b3d9f1e_7a2c_4e8b_9d6f_0c1a2b3c4d5e";

TEST(CgroupIdentityTest, ContainerdSystemdDriverCgroupV2) {
  CgroupIdentity id = ParseCgroupFile("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                      kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "containerd");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.qos_class, "burstable");
}

TEST(CgroupIdentityTest, CrioSystemdDriverGuaranteedPod) {
  CgroupIdentity id = ParseCgroupFile("0::/kubepods.slice/kubepods-pod" + kUidUnderscores + ".slice/crio-" +
                                      std::string(kId) + ".scope\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "cri-o");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.qos_class, "guaranteed");
}

TEST(CgroupIdentityTest, CrioConmonIsNotTheContainer) {
  CgroupIdentity id = ParseCgroupFile("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                                      kUidUnderscores + ".slice/crio-conmon-" + kId + ".scope\n");
  EXPECT_EQ(id.container_id, "");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.qos_class, "besteffort");
}

TEST(CgroupIdentityTest, KubernetesCgroupfsDriverCgroupV1) {
  // Every v1 hierarchy names the container; the runtime is not in a cgroupfs path.
  std::string path = "/kubepods/besteffort/pod" + kUid + "/" + kId;
  CgroupIdentity id = ParseCgroupFile("12:hugetlb:" + path + "\n11:memory:" + path + "\n1:name=systemd:" + path + "\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "");
  EXPECT_EQ(id.pod_uid, kUid);
  EXPECT_EQ(id.qos_class, "besteffort");
}

TEST(CgroupIdentityTest, DockerCgroupfsV1AndSystemdV2) {
  CgroupIdentity v1 = ParseCgroupFile("13:pids:/docker/" + std::string(kId) + "\n12:memory:/docker/" + kId + "\n");
  EXPECT_EQ(v1.container_id, kId);
  EXPECT_EQ(v1.runtime, "docker");
  EXPECT_EQ(v1.pod_uid, "");
  CgroupIdentity v2 = ParseCgroupFile("0::/system.slice/docker-" + std::string(kId) + ".scope\n");
  EXPECT_EQ(v2.container_id, kId);
  EXPECT_EQ(v2.runtime, "docker");
}

TEST(CgroupIdentityTest, PodmanAndPrivateCgroupNamespace) {
  CgroupIdentity podman = ParseCgroupFile("0::/machine.slice/libpod-" + std::string(kId) + ".scope/container\n");
  EXPECT_EQ(podman.container_id, kId);
  EXPECT_EQ(podman.runtime, "podman");
  // Seen from an agent in its own cgroup namespace, other pods' paths start with "..".
  CgroupIdentity relative = ParseCgroupFile("0::/../../kubepods-burstable-pod" + kUidUnderscores +
                                            ".slice/cri-containerd-" + kId + ".scope\n");
  EXPECT_EQ(relative.container_id, kId);
  EXPECT_EQ(relative.pod_uid, kUid);
}

TEST(CgroupIdentityTest, HostProcessesHaveNoContainer) {
  CgroupIdentity session = ParseCgroupFile("0::/user.slice/user-1000.slice/session-3.scope\n");
  EXPECT_EQ(session.container_id, "");
  EXPECT_EQ(session.runtime, "");
  EXPECT_EQ(session.cgroup_path, "/user.slice/user-1000.slice/session-3.scope");
  // A hybrid host with v2 at the root: the v1 hierarchy that says more is shown.
  CgroupIdentity hybrid = ParseCgroupFile("4:memory:/process_api/bc236e5d49a1885e394eb583022a6e64\n3:cpuset:/\n0::/\n");
  EXPECT_EQ(hybrid.container_id, "");  // 32 hex digits: not a container id
  EXPECT_EQ(hybrid.cgroup_path, "/process_api/bc236e5d49a1885e394eb583022a6e64");
  // Not hex, or not 64 digits: no id.
  EXPECT_EQ(ParseCgroupFile("0::/docker/" + std::string(kId) + "ab\n").container_id, "");
  EXPECT_EQ(ParseCgroupFile("0::/docker/" + std::string(kId).substr(0, 63) + "g\n").container_id, "");
}

TEST(CgroupIdentityTest, ThisProcessOnThisHost) {
  // Whatever this machine is, the real file parses and the path is one of its lines.
  std::ifstream in("/proc/self/cgroup");
  std::stringstream ss;
  ss << in.rdbuf();
  CgroupIdentity id = ParseCgroupFile(ss.str());
  EXPECT_NE(ss.str().find(":" + id.cgroup_path + "\n"), std::string::npos) << ss.str();
}

}  // namespace
}  // namespace stallscope
