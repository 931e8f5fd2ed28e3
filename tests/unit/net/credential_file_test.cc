#include "credential_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace stallscope::net {
namespace {

class CredentialFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/credential-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string Write(const std::string& name, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "secret-0123456789abcdef\n";
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(CredentialFileTest, SecretsReadableByNoOtherUser) {
  EXPECT_EQ(*ReadCredentialFile(Write("ok", 0600), "--token-file", Credential::kSecret), "secret-0123456789abcdef\n");
  EXPECT_TRUE(ReadCredentialFile(Write("ro", 0400), "--token-file", Credential::kSecret).ok());
  absl::StatusOr<std::string> open = ReadCredentialFile(Write("open", 0644), "--token-file", Credential::kSecret);
  ASSERT_TRUE(absl::IsPermissionDenied(open.status()));
  EXPECT_NE(open.status().message().find("mode 0644"), std::string::npos) << open.status();
  EXPECT_NE(open.status().message().find(dir_ + "/open"), std::string::npos);
  EXPECT_EQ(open.status().message().find('\n'), std::string::npos);  // one line
  // Group-readable only when the group is this process's own (a Kubernetes fsGroup).
  std::string group = Write("group", 0640);
  EXPECT_TRUE(ReadCredentialFile(group, "f", Credential::kSecret).ok());
  ASSERT_EQ(chown(group.c_str(), 0, getegid() + 1), 0);
  EXPECT_TRUE(absl::IsPermissionDenied(ReadCredentialFile(group, "f", Credential::kSecret).status()));
}

TEST_F(CredentialFileTest, NobodyElseMayWriteEvenAPublicFile) {
  EXPECT_TRUE(ReadCredentialFile(Write("cert", 0644), "--tls-cert", Credential::kPublic).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(ReadCredentialFile(Write("ww", 0666), "f", Credential::kPublic).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(ReadCredentialFile(Write("gw", 0620), "f", Credential::kSecret).status()));
}

TEST_F(CredentialFileTest, OwnedByRootOrThisUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file away";
  std::string path = Write("nobody", 0600);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  absl::StatusOr<std::string> st = ReadCredentialFile(path, "--tls-key", Credential::kSecret);
  ASSERT_TRUE(absl::IsPermissionDenied(st.status()));
  EXPECT_NE(st.status().message().find("owner uid 65534"), std::string::npos) << st.status();
}

TEST_F(CredentialFileTest, SymlinksOnlyOfRootOrThisUserFifosNever) {
  std::string target = Write("target", 0600);
  std::string link = dir_ + "/link";
  ASSERT_EQ(symlink("target", link.c_str()), 0);  // as a Kubernetes Secret volume
  EXPECT_TRUE(ReadCredentialFile(link, "f", Credential::kSecret).ok());
  if (geteuid() == 0) {
    ASSERT_EQ(lchown(link.c_str(), 65534, 65534), 0);
    EXPECT_TRUE(absl::IsPermissionDenied(ReadCredentialFile(link, "f", Credential::kSecret).status()));
  }
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(absl::IsPermissionDenied(ReadCredentialFile(fifo, "f", Credential::kSecret).status()));
  EXPECT_TRUE(absl::IsNotFound(ReadCredentialFile(dir_ + "/none", "f", Credential::kSecret).status()));
}

}  // namespace
}  // namespace stallscope::net
