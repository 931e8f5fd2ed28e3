#include "flamegraph.h"

#include <gtest/gtest.h>

#include "collector/test_reports.h"

namespace stallscope::collector {
namespace {

TEST(FlameGraphTest, MergesStacksRootFirstWeightedByStalledTime) {
  FlameGraph g;
  g.Add(Stall(1, 0, 0, "query").loop_block().stack(), 300);
  g.Add(Stall(1, 0, 0, "query").loop_block().stack(), 100);
  g.Add(Stall(1, 0, 0, "render").loop_block().stack(), 600);
  EXPECT_EQ(g.total_ns(), 1000u);
  EXPECT_EQ(g.ToJson(0),
            "{\"name\":\"all\",\"value\":1000,\"children\":[{\"name\":\"main (app.py:7)\",\"value\":1000,"
            "\"children\":[{\"name\":\"query (app.py:42)\",\"value\":400,\"children\":[{\"name\":\"recv "
            "(libc.so.6)\",\"value\":400}]},{\"name\":\"render (app.py:42)\",\"value\":600,\"children\":[{\"name\":"
            "\"recv (libc.so.6)\",\"value\":600}]}]}]}");
}

// A function named with an OSC sequence, markup and U+FFFE (an agent that sent it raw): the
// JSON holds it as visible escapes, no control character even escaped as \u001b.
TEST(FlameGraphTest, HostileNamesAreShownAsVisibleEscapes) {
  FlameGraph g;
  v1::Report r = Stall(1, 0, 0, "\x1b]0;pwned\x07</text>\xef\xbf\xbe");
  g.Add(r.loop_block().stack(), 10);
  std::string json = g.ToJson(0);
  EXPECT_NE(json.find("\\\\x1b]0;pwned\\\\x07</text>\\\\ufffe (app.py:42)"), std::string::npos) << json;
  EXPECT_EQ(json.find("\\u00"), std::string::npos) << json;
  EXPECT_EQ(json.find('\x1b'), std::string::npos);
}

TEST(FlameGraphTest, FoldsTinyNodesAndShowsMissingStacks) {
  FlameGraph g;
  g.Add({}, 5);
  g.Add(Stall(1, 0, 0, "big").loop_block().stack(), 10'000);
  std::string json = g.ToJson(0.01);
  EXPECT_EQ(json.find("(no stack)"), std::string::npos);
  EXPECT_NE(json.find("big (app.py:42)"), std::string::npos);
  EXPECT_NE(FlameGraph().ToJson().find("\"value\":0"), std::string::npos);
}

}  // namespace
}  // namespace stallscope::collector
