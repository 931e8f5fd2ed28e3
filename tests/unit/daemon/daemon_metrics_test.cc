#include "daemon/daemon_metrics.h"

#include <gtest/gtest.h>

#include "target_files/counters.h"

namespace stallscope {
namespace {

TEST(DaemonMetrics, TargetFileRefusalsAndShedsByLabel) {
  DaemonMetrics m;
  m.target_file_refusals = target_files::RefusalCounts();
  m.target_file_refusals["symlink"] = 3;
  m.bounded_sheds = target_files::ShedCounts();
  m.bounded_sheds["symbols"] = 7;
  std::string text = FormatDaemonMetrics(m);
  EXPECT_NE(text.find("# TYPE stallscope_agent_target_file_refusals_total counter"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_target_file_refusals_total{reason=\"symlink\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_target_file_refusals_total{reason=\"not_regular\"} "), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_bounded_sheds_total{what=\"symbols\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_target_file_refusals_total{reason=\"on_fuse\"} "), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_bounded_sheds_total{what=\"mountinfo_unread\"} "), std::string::npos);
}

}  // namespace
}  // namespace stallscope
