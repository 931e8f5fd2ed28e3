#include "stream/agent_identity.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace stallscope {
namespace {

TEST(AgentIdentityTest, FindsContainerIdsOfCommonRuntimes) {
  const std::string id = "3f2a9c0e5b7d41e8a6c2f0b9d8e7a6c5b4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9";
  EXPECT_EQ(ContainerIdFromCgroup("0::/system.slice/docker-" + id + ".scope\n"), id);
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubepods/burstable/pod1234/cri-containerd-" + id + ".scope\n"), id);
  EXPECT_EQ(ContainerIdFromCgroup("12:memory:/docker/" + id + "\n"), id);
  EXPECT_EQ(ContainerIdFromCgroup("0::/user.slice/user-0.slice/session-1.scope\n"), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/x/" + id + "ab\n"), "");  // longer than an id
}

TEST(AgentIdentityTest, DescribesThisHostAndRun) {
  v1::AgentIdentity a = BuildAgentIdentity("shop", getpid());
  v1::AgentIdentity b = BuildAgentIdentity("", getpid());
  EXPECT_EQ(a.agent_id().size(), 32u);
  EXPECT_NE(a.agent_id(), b.agent_id());
  EXPECT_FALSE(a.host().empty());
  EXPECT_EQ(a.boot_id().size(), 36u);
  EXPECT_EQ(a.service(), "shop");
  EXPECT_GT(a.started_unix_nano(), 0u);
}

}  // namespace
}  // namespace stallscope
