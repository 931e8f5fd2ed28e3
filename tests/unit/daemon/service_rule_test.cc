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

TEST(ServiceRuleTest, FirstNonEmptySourceWinsOrchestratorFirst) {
  auto rule = ParseServiceRule("env:OTEL_SERVICE_NAME, label:app, workload, app, comm");
  ASSERT_TRUE(rule.ok());
  std::map<std::string, std::string> labels;
  ServiceInputs in;
  in.labels = &labels;
  in.comm = "gunicorn";
  in.app = "shop.wsgi:app";
  in.env = [](const std::string&) { return std::string(); };
  ServiceName name = EvaluateServiceRule(*rule, in);
  EXPECT_EQ(name.value, "shop");
  EXPECT_EQ(name.source, "app");
  EXPECT_TRUE(name.hint);  // the process's own script: nothing the orchestrator said
  in.pod = "checkout-7d9f8b6c5-x2x9k";
  name = EvaluateServiceRule(*rule, in);
  EXPECT_EQ(name.value, "checkout");
  EXPECT_EQ(name.source, "workload");
  EXPECT_FALSE(name.hint);
  labels["app"] = "storefront";
  EXPECT_EQ(EvaluateServiceRule(*rule, in).value, "storefront");
  EXPECT_EQ(EvaluateServiceRule(*rule, in).source, "label:app");
  ServiceName fallback = EvaluateServiceRule(*ParseServiceRule("pod, text:unknown"), ServiceInputs{});
  EXPECT_EQ(fallback.value, "unknown");
  EXPECT_FALSE(fallback.hint);  // the operator's own text
}

// A pod whose environment claims another service keeps its orchestrator identity, whatever
// order the rule lists the sources in; the claim counts only where the orchestrator says nothing.
TEST(ServiceRuleTest, APodsEnvironmentCannotClaimAnotherService) {
  auto rule = ParseServiceRule("env:STALLSCOPE_SERVICE, env:OTEL_SERVICE_NAME, label:app.kubernetes.io/name, "
                               "workload, app, comm");
  ASSERT_TRUE(rule.ok());
  std::map<std::string, std::string> labels;
  int env_reads = 0;
  ServiceInputs in;
  in.labels = &labels;
  in.env = [&env_reads](const std::string& name) {
    ++env_reads;
    return name == "OTEL_SERVICE_NAME" ? std::string("payments") : "";
  };
  in.pod = "reviews-5c8d7f9b4d-q8wzt";
  in.comm = "gunicorn";
  ServiceName name = EvaluateServiceRule(*rule, in);
  EXPECT_EQ(name.value, "reviews");
  EXPECT_EQ(name.source, "workload");
  EXPECT_FALSE(name.hint);
  EXPECT_EQ(env_reads, 0);  // not even read: the orchestrator named it
  labels["app.kubernetes.io/name"] = "reviews-api";
  EXPECT_EQ(EvaluateServiceRule(*rule, in).value, "reviews-api");

  // Outside any pod or labelled container: the process's word, marked as a hint.
  ServiceInputs bare = in;
  bare.labels = nullptr;
  bare.pod = "";
  name = EvaluateServiceRule(*rule, bare);
  EXPECT_EQ(name.value, "payments");
  EXPECT_EQ(name.source, "env:OTEL_SERVICE_NAME");
  EXPECT_TRUE(name.hint);
}

TEST(ServiceRuleTest, RejectsUnknownSources) {
  EXPECT_FALSE(ParseServiceRule("").ok());
  EXPECT_FALSE(ParseServiceRule("label").ok());      // needs a key
  EXPECT_FALSE(ParseServiceRule("comm:x").ok());     // takes none
  EXPECT_FALSE(ParseServiceRule("hostname").ok());
}

}  // namespace
}  // namespace stallscope
