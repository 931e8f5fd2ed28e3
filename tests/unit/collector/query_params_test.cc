#include "query_params.h"

#include <gtest/gtest.h>

#include <map>

namespace stallscope::collector {
namespace {

constexpr uint64_t kNow = 1'700'000'000'000'000'000;

ParamLookup Params(std::map<std::string, std::string> m) {
  return [m](absl::string_view name) -> std::optional<std::string> {
    auto it = m.find(std::string(name));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(QueryParamsTest, TimesAreUnixSecondsRfc3339OrAgo) {
  EXPECT_EQ(*ParseTimeParam("1700000000.5", kNow), 1'700'000'000'500'000'000u);
  EXPECT_EQ(*ParseTimeParam("2023-11-14T22:13:20Z", kNow), 1'700'000'000'000'000'000u);
  EXPECT_EQ(*ParseTimeParam("15m", kNow), kNow - 900'000'000'000u);
  EXPECT_FALSE(ParseTimeParam("yesterday", kNow).ok());
  EXPECT_FALSE(ParseTimeParam("-5", kNow).ok());
}

TEST(QueryParamsTest, ParsesEveryFilter) {
  auto f = ParseFilter(Params({{"kind", "loop_block"}, {"host", "web-1"}, {"service", "shop"}, {"pid", "42"},
                               {"since", "1700000000"}, {"until", "1700000060"}, {"final", "true"}}),
                       kNow);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, "loop_block");
  EXPECT_EQ(f->host, "web-1");
  EXPECT_EQ(f->service, "shop");
  EXPECT_EQ(*f->pid, 42u);
  EXPECT_EQ(f->since_ns, 1'700'000'000'000'000'000u);
  EXPECT_EQ(f->until_ns, 1'700'000'060'000'000'000u);
  EXPECT_TRUE(*f->final);
}

TEST(QueryParamsTest, BadValuesNameTheParameter) {
  auto f = ParseFilter(Params({{"kind", "pool_party"}}), kNow);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("kind"), std::string::npos);
  EXPECT_NE(f.status().message().find("loop_block"), std::string::npos);  // lists the valid kinds
  EXPECT_FALSE(ParseFilter(Params({{"pid", "abc"}}), kNow).ok());
  EXPECT_FALSE(ParseFilter(Params({{"since", "soon"}}), kNow).ok());
  EXPECT_FALSE(ParseFilter(Params({{"final", "maybe"}}), kNow).ok());
  EXPECT_EQ(*ParseLimit(Params({}), 100, 1000), 100);
  EXPECT_EQ(*ParseLimit(Params({{"limit", "7"}}), 100, 1000), 7);
  EXPECT_FALSE(ParseLimit(Params({{"limit", "0"}}), 100, 1000).ok());
  EXPECT_FALSE(ParseLimit(Params({{"limit", "1000000"}}), 100, 1000).ok());
}

}  // namespace
}  // namespace stallscope::collector
