#include "output/report_writer.h"

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "output/stall_summary.h"

namespace stallscope {
namespace {

v1::LoopBlock Stall(uint32_t tid, uint64_t ms, const std::string& call, const std::string& target,
                    uint64_t call_ms, uint64_t cpu_ms) {
  v1::LoopBlock b;
  b.set_pid(7);
  b.set_tid(tid);
  b.set_comm("python3");
  b.set_start_time_unix_nano(1'700'000'000'000'000'000);
  b.set_duration_ns(ms * 1'000'000);
  b.set_on_cpu_ns(cpu_ms * 1'000'000);
  if (!call.empty()) {
    auto* s = b.add_syscalls();
    s->set_name(call);
    s->set_fd(9);
    s->set_target(target);
    s->set_total_ns(call_ms * 1'000'000);
    s->set_count(1);
  }
  return b;
}

std::string Capture(const std::function<void(FILE*)>& fn) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  fn(f);
  fclose(f);
  std::string out(buf, len);
  free(buf);
  return out;
}

TEST(ReportToJsonLine, IsTheProto3JsonMapping) {
  v1::Report r;
  *r.mutable_loop_block() = Stall(8, 300, "recvfrom", "tcp 127.0.0.1:1 -> 127.0.0.1:2", 290, 5);
  std::string line = ReportToJsonLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(R"({"loopBlock":{"pid":7,"tid":8,)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("startTimeUnixNano":"1700000000000000000")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("runqueueNs":"0")"), std::string::npos) << "zeros are printed: " << line;
  EXPECT_NE(line.find(R"("inProgress":false)"), std::string::npos) << line;
}

TEST(JsonWriter, OneLinePerReportAndStatsAtTheEnd) {
  std::string out = Capture([](FILE* f) {
    auto w = MakeJsonWriter(f);
    v1::Report r;
    *r.mutable_loop_block() = Stall(8, 300, "", "", 0, 300);
    w->Write(r);
    w->Write(r);
    v1::AgentStats stats;
    stats.set_ringbuf_drops(3);
    w->Finish(StallSummary(), stats);
    EXPECT_TRUE(w->ok());
  });
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3);
  EXPECT_NE(out.find(R"({"agentStats":{"ringbufDrops":"3")"), std::string::npos) << out;
}

TEST(StallSummary, CountsFinalReportsAndRanksCauses) {
  StallSummary s;
  s.Add(Stall(8, 300, "clock_nanosleep", "", 299, 1));
  s.Add(Stall(8, 500, "recvfrom", "tcp a -> b", 480, 20));
  s.Add(Stall(9, 250, "", "", 0, 250));
  v1::LoopBlock preview = Stall(9, 900, "", "", 0, 900);
  preview.set_in_progress(true);
  s.Add(preview);  // previews are not counted twice
  EXPECT_EQ(s.stalls(), 3u);
  EXPECT_EQ(s.total_ns(), 1050u * 1'000'000);
  auto threads = s.Threads();
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads[0].tid, 8u);
  EXPECT_EQ(threads[0].stalls, 2u);
  EXPECT_EQ(threads[0].max_ns, 500u * 1'000'000);
  auto causes = s.TopCauses(10);
  ASSERT_GE(causes.size(), 3u);
  EXPECT_EQ(causes[0].what, "recvfrom from b");
  EXPECT_EQ(causes[1].what, "clock_nanosleep");
  EXPECT_EQ(causes[2].what, "on-CPU");
  EXPECT_EQ(causes[2].total_ns, 271u * 1'000'000);
}

TEST(TextWriter, ShowsUnitsTargetsAndSummary) {
  std::string out = Capture([](FILE* f) {
    auto w = MakeTextWriter(f);
    v1::Report r;
    *r.mutable_loop_block() = Stall(8, 523, "recvfrom", "tcp 127.0.0.1:41870 -> 127.0.0.1:5432", 520, 2);
    w->Write(r);
    StallSummary s;
    s.Add(r.loop_block());
    w->Finish(s, v1::AgentStats());
  });
  EXPECT_NE(out.find("LOOP BLOCKED 523.0 ms"), std::string::npos) << out;
  EXPECT_NE(out.find("recvfrom fd 9 (tcp 127.0.0.1:41870 -> 127.0.0.1:5432)"), std::string::npos) << out;
  EXPECT_NE(out.find("1 stalls, 523.0 ms stalled in total"), std::string::npos) << out;
}

TEST(TextWriter, SaysWhyPythonFramesAreMissingAndCountsTheReasons) {
  std::string out = Capture([](FILE* f) {
    auto w = MakeTextWriter(f);
    StallSummary s;
    for (const char* reason : {"CPython 3.15.0 layout unknown", "CPython 3.15.0 layout unknown",
                               "target memory unreadable: EPERM"}) {
      v1::Report r;
      *r.mutable_loop_block() = Stall(8, 200, "", "", 0, 0);
      r.mutable_loop_block()->set_python_stack_status(v1::PYTHON_STACK_UNSUPPORTED);
      r.mutable_loop_block()->set_python_stack_reason(reason);
      w->Write(r);
      s.Add(r.loop_block());
    }
    v1::Report captured;
    *captured.mutable_loop_block() = Stall(8, 200, "", "", 0, 0);
    captured.mutable_loop_block()->set_python_stack_status(v1::PYTHON_STACK_CAPTURED);
    captured.mutable_loop_block()->set_python_free_threaded(true);
    w->Write(captured);
    s.Add(captured.loop_block());
    w->Finish(s, v1::AgentStats());
  });
  EXPECT_NE(out.find("python frames: none (CPython 3.15.0 layout unknown)"), std::string::npos)
      << out;
  EXPECT_NE(out.find("free-threaded CPython: no GIL"), std::string::npos) << out;
  EXPECT_NE(out.find("stalls without Python frames, by reason:"), std::string::npos) << out;
  EXPECT_NE(out.find("     2  CPython 3.15.0 layout unknown"), std::string::npos) << out;
  EXPECT_NE(out.find("     1  target memory unreadable: EPERM"), std::string::npos) << out;
}

std::string PoolsAndSockets(bool show_sockets) {
  return Capture([show_sockets](FILE* f) {
    auto w = MakeTextWriter(f, show_sockets);
    v1::Report sat;
    v1::PoolSaturation* s = sat.mutable_pool_saturation();
    s->set_pool("prefork 127.0.0.1:8000 (pid 40)");
    s->set_kind(v1::PREFORK);
    s->set_size(3);
    s->add_members(41);
    s->add_members(42);
    s->add_members(43);
    s->set_duration_ns(1'500'000'000);
    s->set_listen_address("127.0.0.1:8000");
    s->set_max_queued(4);
    s->set_accepted(9);
    s->set_accept_wait_mean_ns(200'000'000);
    s->set_accept_wait_max_ns(210'000'000);
    w->Write(sat);
    for (uint64_t ms : {800, 810, 790}) {
      v1::Report r;
      v1::SocketLifetime* l = r.mutable_socket_lifetime();
      l->set_direction(v1::SocketLifetime::OUTBOUND);
      l->set_local_address("10.0.0.2:40000");
      l->set_remote_address("10.0.0.5:5432");
      l->set_duration_ns(ms * 1'000'000);
      l->set_end(v1::SocketLifetime::CLOSED);
      w->Write(r);
    }
    w->Finish(StallSummary(), v1::AgentStats());
  });
}

TEST(TextWriter, PoolSaturationAndEndpointSummary) {
  std::string out = PoolsAndSockets(false);
  EXPECT_NE(out.find("POOL SATURATED 1.50 s  prefork 127.0.0.1:8000 (pid 40): all 3 workers busy"),
            std::string::npos) << out;
  EXPECT_NE(out.find("up to 4 waiting; 9 accepted, wait mean 200.0 ms max 210.0 ms"), std::string::npos) << out;
  EXPECT_EQ(out.find("TCP out"), std::string::npos) << "per-connection lines need --sockets\n" << out;
  EXPECT_NE(out.find("to 10.0.0.5:5432"), std::string::npos) << out;
  EXPECT_NE(out.find("3    800.0 ms   810.0 ms   810.0 ms"), std::string::npos) << out;  // count, p50/p99/max
  // A run with no stall but a saturated pool says so in its summary line.
  EXPECT_NE(out.find("0 stalls, 0 µs stalled in total; 1 pool saturations, 1.50 s saturated in total (longest "
                     "1.50 s), up to 4 connections queued, queue wait up to 210.0 ms"),
            std::string::npos) << out;
  EXPECT_NE(PoolsAndSockets(true).find("TCP out 10.0.0.2:40000 -> 10.0.0.5:5432  810.0 ms"), std::string::npos);
}

TEST(FormatDuration, PicksReadableUnits) {
  EXPECT_EQ(FormatDuration(850'000), "850 µs");
  EXPECT_EQ(FormatDuration(12'340'000), "12.3 ms");
  EXPECT_EQ(FormatDuration(1'250'000'000), "1.25 s");
}

}  // namespace
}  // namespace stallscope
