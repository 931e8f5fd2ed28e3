#include "daemon/service_rule.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

TEST(ServiceRuleTest, WorkloadFromPodNames) {
  EXPECT_EQ(WorkloadFromPodName("checkout-7d9f8b6c5-x2x9k"), "checkout");        // Deployment
  EXPECT_EQ(WorkloadFromPodName("payment-api-5c8d7f9b4d-q8wzt"), "payment-api");
  EXPECT_EQ(WorkloadFromPodName("web-0"), "web");                                // StatefulSet
  EXPECT_EQ(WorkloadFromPodName("node-agent-x2x9k"), "node-agent");              // DaemonSet
  EXPECT_EQ(WorkloadFromPodName("report-28372140-x2x9k"), "report");             // CronJob
  EXPECT_EQ(WorkloadFromPodName("search-api"), "search-api");                    // a word, not a suffix
  EXPECT_EQ(WorkloadFromPodName(""), "");
}

TEST(ServiceRuleTest, AppModules) {
  EXPECT_EQ(ServiceFromApp("shop.wsgi:app"), "shop");
  EXPECT_EQ(ServiceFromApp("/srv/www/billing.py"), "billing");
  EXPECT_EQ(ServiceFromApp("aiohttp.web"), "aiohttp");
  EXPECT_EQ(ServiceFromApp(""), "");
}

TEST(ServiceRuleTest, FirstNonEmptySourceWins) {
  auto rule = ParseServiceRule("env:OTEL_SERVICE_NAME, label:app, workload, app, comm");
  ASSERT_TRUE(rule.ok());
  std::map<std::string, std::string> labels;
  ServiceInputs in;
  in.labels = &labels;
  in.comm = "gunicorn";
  in.app = "shop.wsgi:app";
  in.env = [](const std::string&) { return std::string(); };
  EXPECT_EQ(EvaluateServiceRule(*rule, in), "shop");
  in.pod = "checkout-7d9f8b6c5-x2x9k";
  EXPECT_EQ(EvaluateServiceRule(*rule, in), "checkout");
  labels["app"] = "storefront";
  EXPECT_EQ(EvaluateServiceRule(*rule, in), "storefront");
  in.env = [](const std::string& name) { return name == "OTEL_SERVICE_NAME" ? std::string("otel-shop") : ""; };
  EXPECT_EQ(EvaluateServiceRule(*rule, in), "otel-shop");
  EXPECT_EQ(EvaluateServiceRule(*ParseServiceRule("pod, text:unknown"), ServiceInputs{}), "unknown");
}

TEST(ServiceRuleTest, RejectsUnknownSources) {
  EXPECT_FALSE(ParseServiceRule("").ok());
  EXPECT_FALSE(ParseServiceRule("label").ok());      // needs a key
  EXPECT_FALSE(ParseServiceRule("comm:x").ok());     // takes none
  EXPECT_FALSE(ParseServiceRule("hostname").ok());
}

}  // namespace
}  // namespace stallscope
