// The `attach` flags of the collector stream (agent/src/cli/attach_options.cc).
#include <gtest/gtest.h>

#include "cli/attach_options.h"

namespace stallscope {
namespace {

TEST(CollectorFlagsTest, ParsesCollectorBufferAndService) {
  auto o = ParseAttachOptions({"--pid", "1", "--collector", "collector.example:7700", "--collector-buffer", "500",
                               "--service", "shop"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->collector, "collector.example:7700");
  EXPECT_EQ(o->collector_buffer, 500u);
  EXPECT_EQ(o->service, "shop");
  auto d = ParseAttachOptions({"--pid", "1"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->collector, "");
  EXPECT_EQ(d->collector_buffer, 100'000u);
  EXPECT_TRUE(ParseAttachOptions({"--pid", "1", "--collector=[::1]:7700"}).ok());
}

TEST(CollectorFlagsTest, RejectsBadValues) {
  for (const char* bad : {"collector", ":7700", "host:", "host:0", "host:70000", "host:x"})
    EXPECT_FALSE(ParseAttachOptions({"--pid", "1", "--collector", bad}).ok()) << bad;
  EXPECT_FALSE(ParseAttachOptions({"--pid", "1", "--collector-buffer", "0"}).ok());
  EXPECT_FALSE(ParseAttachOptions({"--pid", "1", "--collector-buffer", "lots"}).ok());
  EXPECT_FALSE(ParseAttachOptions({"--pid", "1", "--service", ""}).ok());
}

}  // namespace
}  // namespace stallscope
