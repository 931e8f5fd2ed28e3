// One stall, one site: the terminal's why line, the agent's summary of top sites and the
// collector's index (which the dashboard and its queries read) name the same frame.
#include "stack_site.h"

#include <gtest/gtest.h>

#include "output/stall_cause.h"
#include "output/stall_summary.h"
#include "report_index.h"

namespace stallscope {
namespace {

v1::Frame Python(const std::string& file, uint32_t line, const std::string& function) {
  v1::Frame f;
  f.set_kind(v1::Frame::PYTHON);
  f.set_file(file);
  f.set_line(line);
  f.set_function(function);
  return f;
}

v1::Frame Native(const std::string& function, const std::string& module) {
  v1::Frame f;
  f.set_kind(v1::Frame::NATIVE);
  f.set_function(function);
  f.set_module(module);
  return f;
}

// A stall inside a library called from the application: the innermost Python frame is the
// library's, the application's own line is further out.
v1::Report StallInALibrary() {
  v1::Report r;
  v1::LoopBlock* b = r.mutable_loop_block();
  b->set_pid(7);
  b->set_tid(7);
  b->set_duration_ns(300'000'000);
  b->set_off_cpu_ns(299'000'000);
  *b->add_stack() = Native("recv", "libc.so.6");
  *b->add_stack() = Python("/usr/lib/python3/dist-packages/redis/connection.py", 210, "read_response");
  *b->add_stack() = Python("/srv/app/views.py", 88, "fetch_orders");
  *b->add_stack() = Python("/usr/lib/python3/dist-packages/tornado/web.py", 1733, "_execute");
  return r;
}

std::string AfterAt(const std::string& cause) {
  size_t at = cause.rfind(" at ");
  return at == std::string::npos ? "" : cause.substr(at + 4);
}

TEST(StackSiteTest, TheTerminalTheSummaryAndTheCollectorNameTheSameSite) {
  v1::Report r = StallInALibrary();
  const std::string expected = "/srv/app/views.py:88 fetch_orders";
  EXPECT_EQ(AfterAt(StallCause(r.loop_block())), expected);
  StallSummary summary;
  summary.Add(r.loop_block());
  ASSERT_EQ(summary.TopCallSites(1).size(), 1u);
  EXPECT_EQ(summary.TopCallSites(1)[0].what, expected);
  EXPECT_EQ(collector::IndexReport(r, 0).site, expected);
}

TEST(StackSiteTest, WithoutApplicationFramesEveryViewFallsBackAlike) {
  v1::Report r = StallInALibrary();
  r.mutable_loop_block()->mutable_stack()->DeleteSubrange(2, 1);
  const std::string library = "/usr/lib/python3/dist-packages/redis/connection.py:210 read_response";
  EXPECT_EQ(AfterAt(StallCause(r.loop_block())), library);
  EXPECT_EQ(collector::IndexReport(r, 0).site, library);
  r.mutable_loop_block()->mutable_stack()->DeleteSubrange(1, 2);
  EXPECT_EQ(AfterAt(StallCause(r.loop_block())), "recv (libc.so.6)");
  EXPECT_EQ(collector::IndexReport(r, 0).site, "recv (libc.so.6)");
}

TEST(StackSiteTest, AnUnnamedNativeFrameGivesWayToANamedOne) {
  google::protobuf::RepeatedPtrField<v1::Frame> stack;
  v1::Frame unnamed;
  unnamed.set_address(0x7f00deadbeef);
  unnamed.set_module("libfoo.so");
  *stack.Add() = unnamed;
  *stack.Add() = Native("poll", "libc.so.6");
  EXPECT_EQ(StackSite(stack), "poll (libc.so.6)");
  stack.RemoveLast();
  EXPECT_EQ(StackSite(stack), "0x7f00deadbeef (libfoo.so)");
  stack.Clear();
  EXPECT_EQ(StackSite(stack), "");
  EXPECT_EQ(SiteFrame(stack), nullptr);
}

TEST(StackSiteTest, ApplicationFilesAreNeitherTheStandardLibraryNorPackages) {
  EXPECT_TRUE(IsApplicationFile("/srv/app/views.py"));
  EXPECT_TRUE(IsApplicationFile("handlers.py"));
  EXPECT_FALSE(IsApplicationFile("/usr/lib/python3.11/asyncio/events.py"));
  EXPECT_FALSE(IsApplicationFile("/opt/venv/lib/python3.12/site-packages/django/db.py"));
  EXPECT_FALSE(IsApplicationFile("<frozen importlib._bootstrap>"));
  EXPECT_FALSE(IsApplicationFile(""));
}

}  // namespace
}  // namespace stallscope
