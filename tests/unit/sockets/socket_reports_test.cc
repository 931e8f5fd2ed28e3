#include "sockets/socket_reports.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

namespace stallscope {
namespace {

constexpr uint64_t kMs = 1'000'000;

ss_socket_event Event(uint32_t flags, uint16_t sport, const char* daddr, uint16_t dport) {
  ss_socket_event e{};
  e.hdr.type = SS_EV_SOCKET_CLOSED;
  e.hdr.tgid = 10;
  e.hdr.tid = 11;
  e.addr.family = AF_INET;
  e.addr.sport = sport;
  e.addr.dport = dport;
  inet_pton(AF_INET, "127.0.0.1", e.addr.saddr);
  inet_pton(AF_INET, daddr, e.addr.daddr);
  e.flags = flags;
  return e;
}

uint64_t Identity(uint64_t ns) { return ns; }

TEST(SocketReportsTest, InboundConnectionWithAcceptWait) {
  ss_socket_event e = Event(SS_SOCK_INBOUND | SS_SOCK_ESTABLISHED | SS_SOCK_ACCEPTED, 8000, "10.0.0.7", 51000);
  e.open_ns = e.established_ns = 100 * kMs;
  e.accept_ns = 130 * kMs;
  e.hdr.ts_ns = 400 * kMs;
  e.bytes_in = 59;
  e.bytes_out = 176;
  v1::SocketLifetime s = SocketLifetimeFromEvent(e, Identity);
  EXPECT_EQ(s.direction(), v1::SocketLifetime::INBOUND);
  EXPECT_EQ(s.local_address(), "127.0.0.1:8000");
  EXPECT_EQ(s.remote_address(), "10.0.0.7:51000");
  EXPECT_EQ(s.duration_ns(), 300 * kMs);
  EXPECT_EQ(s.accept_wait_ns(), 30 * kMs);
  EXPECT_TRUE(s.accepted());
  EXPECT_EQ(s.connect_latency_ns(), 0u);
  EXPECT_EQ(s.bytes_in(), 59u);
  EXPECT_EQ(s.end(), v1::SocketLifetime::CLOSED);
  EXPECT_EQ(EndpointOf(s), "from 10.0.0.7 to :8000");
}

TEST(SocketReportsTest, OutboundConnectLatencyAndReset) {
  ss_socket_event e = Event(SS_SOCK_ESTABLISHED | SS_SOCK_RESET_RECEIVED, 40000, "10.0.0.5", 5432);
  e.open_ns = 100 * kMs;
  e.established_ns = 102 * kMs;
  e.hdr.ts_ns = 900 * kMs;
  v1::SocketLifetime s = SocketLifetimeFromEvent(e, Identity);
  EXPECT_EQ(s.direction(), v1::SocketLifetime::OUTBOUND);
  EXPECT_EQ(s.connect_latency_ns(), 2 * kMs);
  EXPECT_EQ(s.end(), v1::SocketLifetime::RESET_RECEIVED);
  EXPECT_EQ(EndpointOf(s), "to 10.0.0.5:5432");
  e.flags = 0;  // a connect() that never completed
  EXPECT_EQ(SocketLifetimeFromEvent(e, Identity).end(), v1::SocketLifetime::NEVER_ESTABLISHED);
}

TEST(SocketReportsTest, EndpointSummaryPercentiles) {
  EndpointSummary summary;
  for (int i = 1; i <= 100; ++i) {
    v1::SocketLifetime s;
    s.set_direction(v1::SocketLifetime::OUTBOUND);
    s.set_remote_address("10.0.0.5:5432");
    s.set_duration_ns(static_cast<uint64_t>(i) * kMs);
    summary.Add(s);
  }
  v1::SocketLifetime other;
  other.set_direction(v1::SocketLifetime::OUTBOUND);
  other.set_remote_address("10.0.0.6:6379");
  other.set_duration_ns(800 * kMs);
  other.set_end(v1::SocketLifetime::RESET_RECEIVED);
  summary.Add(other);
  auto rows = summary.Rows(10);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].endpoint, "to 10.0.0.5:5432");
  EXPECT_EQ(rows[0].count, 100u);
  EXPECT_EQ(rows[0].p50_ns, 51 * kMs);  // nearest rank over 1..100 ms
  EXPECT_EQ(rows[0].p99_ns, 99 * kMs);
  EXPECT_EQ(rows[0].max_ns, 100 * kMs);
  EXPECT_EQ(rows[1].resets, 1u);
  EXPECT_EQ(summary.Rows(1).size(), 1u);
}

}  // namespace
}  // namespace stallscope
