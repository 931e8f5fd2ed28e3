#include "token_file.h"

#include <gtest/gtest.h>

#include "listener_security.h"

namespace stallscope::net {
namespace {

TEST(TokenFileTest, NamesTokensAndIgnoresComments) {
  auto f = TokenFile::Parse("# fleet\nnode-a  tok-aaaaaaaaaaaaaaaa\n\n\tviewer tok-vvvvvvvvvvvvvvvv \n", "t");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->size(), 2u);
  EXPECT_EQ(f->Lookup("tok-aaaaaaaaaaaaaaaa"), (TokenPrincipal{"node-a", kRoleIngest}));
  EXPECT_EQ(f->Lookup("tok-vvvvvvvvvvvvvvvv"), (TokenPrincipal{"viewer", kRoleIngest}));
  EXPECT_EQ(f->Lookup("tok-aaaaaaaaaaaaaaa"), std::nullopt);  // a prefix is no match
  EXPECT_EQ(f->Lookup(""), std::nullopt);
  EXPECT_EQ(f->first_token(), "tok-aaaaaaaaaaaaaaaa");
}

TEST(TokenFileTest, RolesDefaultToTheFilesAndAreNamedPerLine) {
  auto f = TokenFile::Parse("node tok-aaaaaaaaaaaaaaaa\nprom tok-pppppppppppppppp read\n"
                            "admin tok-dddddddddddddddd ingest,read\n", "t");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Lookup("tok-aaaaaaaaaaaaaaaa")->roles, kRoleIngest);  // secure by default: no read
  EXPECT_EQ(f->Lookup("tok-pppppppppppppppp")->roles, kRoleRead);
  EXPECT_EQ(f->Lookup("tok-dddddddddddddddd")->roles, kRoleIngest | kRoleRead);
  auto ops = TokenFile::Parse("prom tok-pppppppppppppppp\n", "t", kRoleRead);
  EXPECT_EQ(ops->Lookup("tok-pppppppppppppppp")->roles, kRoleRead);
  EXPECT_FALSE(TokenFile::Parse("x tok-aaaaaaaaaaaaaaaa write\n", "t").ok());
  EXPECT_FALSE(TokenFile::Parse("x tok-aaaaaaaaaaaaaaaa read,\n", "t").ok());
}

TEST(TokenFileTest, ABareTokenIsTheAgentsForm) {
  auto f = TokenFile::Parse("tok-bbbbbbbbbbbbbbbb\n", "agent.token");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->first_token(), "tok-bbbbbbbbbbbbbbbb");
}

TEST(TokenFileTest, RefusesShortTokensBadLinesAndEmptyFiles) {
  EXPECT_NE(TokenFile::Parse("a short\n", "t").status().message().find("t:1: token shorter than 16"),
            std::string::npos);
  EXPECT_NE(TokenFile::Parse("ok tok-aaaaaaaaaaaaaaaa\na b c\n", "t").status().message().find("t:2:"),
            std::string::npos);
  EXPECT_FALSE(TokenFile::Parse("# nothing\n", "t").ok());
  EXPECT_FALSE(TokenFile::Load("/nonexistent/tokens").ok());
}

TEST(ListenerSecurityTest, LoopbackNeedsNothingElsewhereNeedsTlsAndAuth) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost(""));  // every address
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  auto plain = ListenerSecurity::Create({});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->CheckListenAddress("x", "127.0.0.1", false).ok());
  absl::Status st = (*plain)->CheckListenAddress("agent streams", "", false);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--insecure"), std::string::npos);
  ListenerSecurityOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE((*ListenerSecurity::Create(insecure))->CheckListenAddress("x", "0.0.0.0", true).ok());
}

TEST(ListenerSecurityTest, RefusesHalfConfiguredTls) {
  ListenerSecurityOptions o;
  o.tls_cert = "/x.pem";
  EXPECT_FALSE(ListenerSecurity::Create(o).ok());
  ListenerSecurityOptions ca_only;
  ca_only.client_ca = "/ca.pem";
  EXPECT_FALSE(ListenerSecurity::Create(ca_only).ok());
}

}  // namespace
}  // namespace stallscope::net
