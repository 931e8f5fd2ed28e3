// The agent's stream against the real collector service in-process: acknowledgements,
// a collector restart mid-run with nothing lost or stored twice, and the bounded buffer.
#include "stream/collector_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "collector_service.h"
#include "ingestor.h"
#include "metrics.h"
#include "store.h"

namespace stallscope {
namespace {

using collector::CollectorService;
using collector::Ingestor;
using collector::Metrics;
using collector::Store;

// A collector (store + ingestor + gRPC service) that can be stopped and started again on
// the same port and database, as a restart would.
class TestCollector {
 public:
  explicit TestCollector(std::string db) : db_(std::move(db)) {}
  ~TestCollector() { Stop(); }

  void Start(int port = 0) {
    store_ = std::move(*Store::Open(db_));
    ingestor_ = std::make_unique<Ingestor>(store_.get(), &metrics_, Ingestor::Options{});
    ingestor_->Start();
    service_ = std::make_unique<CollectorService>(ingestor_.get(), &metrics_, CollectorService::Options{});
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(), &port_);
    CollectorService::Configure(builder, 4 << 20);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
  }
  void Stop() {
    if (!server_) return;
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_.reset();
    service_.reset();
    ingestor_->Stop();
    ingestor_.reset();
    store_.reset();
  }
  int64_t Count() {
    auto s = Store::Open(db_);
    return *(*s)->CountReports();
  }
  int port() const { return port_; }

 private:
  std::string db_;
  Metrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<CollectorService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};


// A TCP proxy in front of the collector whose "network" can silently lose everything in
// both directions (no RST, no FIN): what a dropped route or a dead NAT entry looks like.
class LossyProxy {
 public:
  explicit LossyProxy(int upstream_port) : upstream_port_(upstream_port) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listener_, 16);
    socklen_t len = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~LossyProxy() {
    stop_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    accept_thread_.join();
    for (auto& t : pumps_) t.join();
  }
  int port() const { return port_; }
  void set_losing(bool losing) { losing_ = losing; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(client);
        close(server);
        continue;
      }
      pumps_.emplace_back([this, client, server] { Pump(client, server); });
    }
  }
  // Copies both ways; while losing, reads and throws away. Ends when either side closes.
  void Pump(int a, int b) {
    char buf[16384];
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!stop_) {
      if (poll(fds, 2, 100) <= 0) continue;
      bool closed = false;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          closed = true;
          break;
        }
        if (!losing_ && write(fds[1 - i].fd, buf, n) != n) closed = true;
      }
      if (closed) break;
    }
    close(a);
    close(b);
  }

  int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, losing_{false};
  std::thread accept_thread_;
  std::vector<std::thread> pumps_;
};

v1::Report Event(uint32_t pid) {
  v1::Report r;
  r.mutable_process_event()->set_pid(pid);
  // Recent: older reports would be expired by retention when the collector restarts.
  r.mutable_process_event()->set_time_unix_nano(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
  return r;
}

class CollectorClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stallscope-stream-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string rm = "rm -rf " + dir_;
    ASSERT_EQ(system(rm.c_str()), 0);
  }
  CollectorClient::Options Fast() {
    CollectorClient::Options o;
    o.initial_backoff = std::chrono::milliseconds(50);
    o.max_backoff = std::chrono::milliseconds(200);
    o.batch_reports = 64;
    o.quiet = true;
    return o;
  }
  v1::AgentIdentity Identity() {
    v1::AgentIdentity id;
    id.set_agent_id("test-agent");
    id.set_host("h");
    return id;
  }
  std::string dir_;
};

TEST_F(CollectorClientTest, EveryReportIsAcknowledgedOnce) {
  TestCollector c(dir_ + "/a.db");
  c.Start();
  CollectorClient client(absl::StrCat("127.0.0.1:", c.port()), Identity(), Fast());
  client.Start();
  for (uint32_t i = 0; i < 1000; ++i) client.Write(Event(i));
  EXPECT_TRUE(client.Flush(std::chrono::seconds(20)));
  auto s = client.stats();
  EXPECT_EQ(s.acked, 1000u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.dropped, 0u);
  client.Stop();
  c.Stop();
  EXPECT_EQ(c.Count(), 1000);
}

// A tracked process named itself with bytes that are not UTF-8 (prctl(PR_SET_NAME)) and an
// entry point let it through: that one report is dropped and counted, every other report is
// stored, the stream is never reopened (before, the collector refused the whole batch, and
// the agent resent it for ever: 0 stored, reconnects until the flood guard refused the node).
TEST_F(CollectorClientTest, AReportThatCannotBeReadIsDroppedAloneAndTheStreamGoesOn) {
  TestCollector c(dir_ + "/u.db");
  c.Start();
  CollectorClient client(absl::StrCat("127.0.0.1:", c.port()), Identity(), Fast());
  client.Start();
  for (uint32_t i = 0; i < 200; ++i) {
    v1::Report r = Event(i);
    if (i % 50 == 7) r.mutable_process_event()->set_comm("\xff\xfe\x1b]0;x\x07");
    client.Write(r);
  }
  EXPECT_TRUE(client.Flush(std::chrono::seconds(20)));
  auto s = client.stats();
  EXPECT_EQ(s.acked, 196u);
  EXPECT_EQ(s.rejected, 4u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.reconnects, 0u);
  client.Stop();
  c.Stop();
  EXPECT_EQ(c.Count(), 196);
}

TEST_F(CollectorClientTest, ACollectorRestartLosesNothingAndStoresNothingTwice) {
  TestCollector c(dir_ + "/b.db");
  c.Start();
  int port = c.port();
  CollectorClient client(absl::StrCat("127.0.0.1:", port), Identity(), Fast());
  client.Start();
  for (uint32_t i = 0; i < 300; ++i) client.Write(Event(i));
  EXPECT_TRUE(client.Flush(std::chrono::seconds(20)));
  c.Stop();
  // Written while the collector is down: buffered.
  for (uint32_t i = 300; i < 600; ++i) client.Write(Event(i));
  EXPECT_FALSE(client.Flush(std::chrono::milliseconds(300)));
  EXPECT_EQ(client.stats().pending, 300u);
  c.Start(port);
  EXPECT_TRUE(client.Flush(std::chrono::seconds(20)));
  auto s = client.stats();
  EXPECT_EQ(s.acked, 600u);
  EXPECT_GE(s.reconnects, 1u);
  client.Stop();
  c.Stop();
  EXPECT_EQ(c.Count(), 600);
}

TEST_F(CollectorClientTest, BeyondTheBufferOldReportsAreDroppedAndCounted) {
  CollectorClient::Options o = Fast();
  o.buffer_reports = 100;
  // Nothing listens on this port (yet).
  TestCollector probe(dir_ + "/c.db");
  probe.Start();
  int port = probe.port();
  probe.Stop();
  CollectorClient client(absl::StrCat("127.0.0.1:", port), Identity(), o);
  client.Start();
  for (uint32_t i = 0; i < 250; ++i) client.Write(Event(i));
  auto s = client.stats();
  EXPECT_EQ(s.dropped, 150u);
  EXPECT_EQ(s.pending, 100u);
  TestCollector c(dir_ + "/c.db");
  c.Start(port);
  EXPECT_TRUE(client.Flush(std::chrono::seconds(20)));
  EXPECT_EQ(client.stats().acked, 100u);
  client.Stop();
  c.Stop();
  EXPECT_EQ(c.Count(), 100);
}

TEST_F(CollectorClientTest, ANetworkThatSilentlyLosesPacketsIsDetectedAndSurvived) {
  TestCollector c(dir_ + "/d.db");
  c.Start();
  LossyProxy proxy(c.port());
  CollectorClient::Options o = Fast();
  o.ack_timeout = std::chrono::milliseconds(1000);
  CollectorClient client(absl::StrCat("127.0.0.1:", proxy.port()), Identity(), o);
  client.Start();
  for (uint32_t i = 0; i < 100; ++i) client.Write(Event(i));
  ASSERT_TRUE(client.Flush(std::chrono::seconds(20)));
  proxy.set_losing(true);
  for (uint32_t i = 100; i < 200; ++i) client.Write(Event(i));
  EXPECT_FALSE(client.Flush(std::chrono::milliseconds(1500)));  // nothing gets through
  proxy.set_losing(false);
  // The watchdog gives up on the dead stream; a new one resends what was not acknowledged.
  EXPECT_TRUE(client.Flush(std::chrono::seconds(30)));
  EXPECT_EQ(client.stats().acked, 200u);
  EXPECT_GE(client.stats().reconnects, 1u);
  client.Stop();
  c.Stop();
  EXPECT_EQ(c.Count(), 200);
}

}  // namespace
}  // namespace stallscope
