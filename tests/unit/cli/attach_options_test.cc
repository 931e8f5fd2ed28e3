#include "cli/attach_options.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

TEST(ParseAttachOptions, DefaultsAndRepeatedPids) {
  auto o = ParseAttachOptions({"--pid", "12", "--pid=13,14"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->pids, (std::vector<pid_t>{12, 13, 14}));
  EXPECT_EQ(o->block_threshold_ms, 100u);
  EXPECT_EQ(o->format, OutputFormat::kText);
  EXPECT_FALSE(o->duration_seconds.has_value());
}

TEST(ParseAttachOptions, AllFlags) {
  auto o = ParseAttachOptions({"-p", "1", "--duration", "2.5", "--block-threshold-ms", "50",
                               "--format", "json", "--output", "/tmp/x", "--max-threads", "100"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_DOUBLE_EQ(*o->duration_seconds, 2.5);
  EXPECT_EQ(o->block_threshold_ms, 50u);
  EXPECT_EQ(o->format, OutputFormat::kJson);
  EXPECT_EQ(o->output_path, "/tmp/x");
  EXPECT_EQ(o->max_threads, 100u);
}

TEST(ParseAttachOptions, PoolAndSocketFlags) {
  auto d = ParseAttachOptions({"--pid", "1"});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->saturation_threshold_ms, 100u);
  EXPECT_DOUBLE_EQ(d->utilization_interval_seconds, 10);
  EXPECT_FALSE(d->sockets);
  auto o = ParseAttachOptions({"--pid", "1", "--saturation-threshold-ms", "250",
                               "--utilization-interval", "2.5", "--sockets"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->saturation_threshold_ms, 250u);
  EXPECT_DOUBLE_EQ(o->utilization_interval_seconds, 2.5);
  EXPECT_TRUE(o->sockets);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--pid", "1", "--saturation-threshold-ms", "0"},
           {"--pid", "1", "--saturation-threshold-ms", "x"},
           {"--pid", "1", "--utilization-interval", "0"},
           {"--pid", "1", "--utilization-interval", "-3"}}) {
    auto bad = ParseAttachOptions(args);
    ASSERT_FALSE(bad.ok()) << args[2];
    EXPECT_EQ(bad.status().message().find('\n'), std::string::npos);
    EXPECT_NE(bad.status().message().find(args[2]), std::string::npos) << bad.status();
  }
}

TEST(ParseAttachOptions, BadInputIsAOneLineError) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},                                          // no --pid
           {"--pid"},                                   // missing value
           {"--pid", "abc"},
           {"--pid", "-4"},
           {"--pid", "1", "--block-threshold-ms", "abc"},
           {"--pid", "1", "--block-threshold-ms", "0"},
           {"--pid", "1", "--duration", "-1"},
           {"--pid", "1", "--format", "xml"},
           {"--pid", "1", "--bogus"},
           {"--pid", "1", "--max-threads", "3"},
       }) {
    auto o = ParseAttachOptions(args);
    EXPECT_FALSE(o.ok()) << "accepted: " << ::testing::PrintToString(args);
    if (!o.ok()) EXPECT_EQ(std::string(o.status().message()).find('\n'), std::string::npos);
  }
}

TEST(ParseAttachOptions, HelpNeedsNoPid) {
  auto o = ParseAttachOptions({"--help"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->help);
}

}  // namespace
}  // namespace stallscope
