#include "output/stall_cause.h"

#include "stack_site.h"

#include "gtest/gtest.h"

namespace stallscope {
namespace {

v1::Frame PythonFrame(const std::string& file, int line, const std::string& function) {
  v1::Frame f;
  f.set_kind(v1::Frame::PYTHON);
  f.set_file(file);
  f.set_line(line);
  f.set_function(function);
  return f;
}

// A loop blocked 7.4 s in recv on an upstream, called from the app through Django.
v1::LoopBlock BlockedInRecv() {
  v1::LoopBlock b;
  b.set_tid(908);
  b.set_duration_ns(7'420'000'000);
  b.set_off_cpu_ns(7'400'000'000);
  b.set_on_cpu_ns(20'000'000);
  v1::SyscallStat* call = b.add_syscalls();
  call->set_name("recvfrom");
  call->set_target("tcp 10.0.0.7:40426 -> 10.0.0.5:5432");
  call->set_total_ns(7'400'000'000);
  v1::Frame* native = b.add_stack();
  native->set_kind(v1::Frame::NATIVE);
  native->set_function("recv");
  native->set_module("libc.so.6");
  *b.add_stack() = PythonFrame("/usr/lib/python3/dist-packages/psycopg2/extras.py", 146, "execute");
  *b.add_stack() = PythonFrame("/usr/lib/python3.11/socket.py", 705, "readinto");
  *b.add_stack() = PythonFrame("/srv/app/views.py", 88, "fetch_orders");
  *b.add_stack() = PythonFrame("/usr/lib/python3/dist-packages/django/core/handlers/base.py", 197, "_get_response");
  return b;
}

TEST(StallCauseTest, NamesTheSyscallThePeerAndTheApplicationsOwnLine) {
  EXPECT_EQ(StallCause(BlockedInRecv()),
            "blocked 7.40 s in recvfrom from 10.0.0.5:5432 at /srv/app/views.py:88 fetch_orders");
}

TEST(StallCauseTest, PeerDropsTheLocalEphemeralPort) {
  EXPECT_EQ(PeerOf("tcp 10.0.0.7:40426 -> 10.0.0.5:5432"), PeerOf("tcp 10.0.0.7:51200 -> 10.0.0.5:5432"));
  EXPECT_EQ(PeerOf("unix /run/app.sock"), "unix /run/app.sock");
}

TEST(StallCauseTest, FrameworkFramesOnlyWhenTheApplicationHasNone) {
  v1::LoopBlock b = BlockedInRecv();
  b.mutable_stack()->DeleteSubrange(3, 1);  // no application frame left
  EXPECT_EQ(StackSite(b.stack()), "/usr/lib/python3/dist-packages/psycopg2/extras.py:146 execute");
  b.mutable_stack()->DeleteSubrange(1, 3);  // native only
  EXPECT_EQ(StackSite(b.stack()), "recv (libc.so.6)");
  EXPECT_EQ(SiteFrame(v1::LoopBlock().stack()), nullptr);
}

TEST(StallCauseTest, WaitingForCpuNamesTheGilHolder) {
  v1::LoopBlock b;
  b.set_tid(10);
  b.set_runqueue_ns(900'000'000);
  b.set_on_cpu_ns(100'000'000);
  b.set_gil_holder_tid(12);
  EXPECT_EQ(StallCause(b), "waiting for a CPU 900.0 ms (GIL held by thread 12)");
  b.set_on_cpu_ns(2'000'000'000);
  b.set_gil_holder_tid(10);
  EXPECT_EQ(StallCause(b), "on CPU 2.00 s");
}

}  // namespace
}  // namespace stallscope
