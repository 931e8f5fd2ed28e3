#include "stream_flood_guard.h"

#include <gtest/gtest.h>

namespace stallscope::collector {
namespace {

TEST(StreamFloodGuardTest, ParsesGrpcPeers) {
  std::string ip;
  int port = 0;
  ASSERT_TRUE(ParseGrpcPeer("ipv4:10.1.2.3:4567", &ip, &port));
  EXPECT_EQ(ip, "10.1.2.3");
  EXPECT_EQ(port, 4567);
  ASSERT_TRUE(ParseGrpcPeer("ipv6:[::1]:80", &ip, &port));
  EXPECT_EQ(ip, "::1");
  ASSERT_TRUE(ParseGrpcPeer("ipv6:[::ffff:127.0.0.2]:81", &ip, &port));
  EXPECT_EQ(ip, "127.0.0.2");
  EXPECT_FALSE(ParseGrpcPeer("unix:/tmp/sock", &ip, &port));
}

TEST(StreamFloodGuardTest, AConnectionOpeningStreamsTooFastIsRefusedAndItsAddressBanned) {
  StreamFloodGuard::Options o;
  o.max_streams_per_window = 3;
  o.window = absl::Seconds(10);
  o.ban = absl::Seconds(30);
  StreamFloodGuard guard(o);
  guard.set_local_port(1);  // no socket of this process: nothing is shut down
  absl::Time t = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(guard.Admit("ipv4:10.0.0.9:5000", t));
  EXPECT_FALSE(guard.Admit("ipv4:10.0.0.9:5000", t));
  // Its other connections too, until the ban ends; other addresses are untouched.
  EXPECT_FALSE(guard.Admit("ipv4:10.0.0.9:5001", t + absl::Seconds(29)));
  EXPECT_TRUE(guard.Admit("ipv4:10.0.0.8:5000", t));
  EXPECT_TRUE(guard.Admit("ipv4:10.0.0.9:5002", t + absl::Seconds(31)));
  // An agent reconnecting now and then stays well below the limit.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(guard.Admit("ipv4:10.0.0.7:6000", t + absl::Seconds(11 * i)));
}

}  // namespace
}  // namespace stallscope::collector
