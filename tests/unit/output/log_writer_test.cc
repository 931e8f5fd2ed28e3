#include "output/log_writer.h"

#include <cstdio>
#include <regex>
#include <string>

#include "gtest/gtest.h"

namespace stallscope {
namespace {

std::string Captured(FILE* f) {
  fflush(f);
  rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

TEST(LogWriterTest, OneTimestampedLinePerStallWithWhoAndWhy) {
  FILE* f = tmpfile();
  auto writer = MakeLogWriter(f, false);
  v1::Report r;
  r.mutable_process()->set_service("checkout");
  r.mutable_process()->set_pod_namespace("shop");
  r.mutable_process()->set_pod("checkout-7d9f-x");
  v1::LoopBlock* b = r.mutable_loop_block();
  b->set_pid(908);
  b->set_tid(908);
  b->set_duration_ns(7'400'000'000);
  b->set_off_cpu_ns(7'400'000'000);
  v1::SyscallStat* call = b->add_syscalls();
  call->set_name("recv");
  call->set_target("tcp 10.0.0.7:40426 -> 10.0.0.5:5432");
  writer->Write(r);
  std::string out = Captured(f);
  EXPECT_TRUE(std::regex_match(
      out, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z checkout shop/checkout-7d9f-x pid 908 tid 908: )"
                      R"(loop blocked 7\.40 s - blocked 7\.40 s in recv from 10\.0\.0\.5:5432\n)")))
      << out;
  fclose(f);
}

TEST(LogWriterTest, HeartbeatFromAgentStatsAndSocketsOnlyWhenAsked) {
  FILE* f = tmpfile();
  auto writer = MakeLogWriter(f, false);
  v1::Report sat;
  sat.mutable_pool_saturation()->set_pid(7);
  sat.mutable_pool_saturation()->set_size(4);
  writer->Write(sat);
  v1::Report socket;
  socket.mutable_socket_lifetime()->set_pid(7);
  writer->Write(socket);
  v1::Report stats;
  stats.mutable_agent_stats()->set_tracked_processes(3);
  stats.mutable_agent_stats()->set_stalls_reported(5);
  writer->Write(stats);
  std::string out = Captured(f);
  EXPECT_NE(out.find("pid 7: thread pool saturated"), std::string::npos) << out;
  EXPECT_EQ(out.find("TCP"), std::string::npos) << out;
  EXPECT_NE(out.find("heartbeat: tracking 3 processes; since start 5 stalls, 1 pool saturations"), std::string::npos)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_FALSE(LogLine(socket, true).empty());
  fclose(f);
}

TEST(LogWriterTest, Rfc3339) { EXPECT_EQ(Rfc3339Utc(1'700'000'000'123'000'000ULL), "2023-11-14T22:13:20.123Z"); }

}  // namespace
}  // namespace stallscope
