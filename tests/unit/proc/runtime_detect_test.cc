#include "proc/runtime_detect.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

const std::string kProcRoot = std::string(TESTDATA_DIR) + "/proc";

TEST(ProcessRunsGevent, FindsGeventsCompiledHub) {
  EXPECT_TRUE(ProcessRunsGevent(5151, kProcRoot));
}

TEST(ProcessRunsGevent, GreenletAloneIsNotGevent) {
  // SQLAlchemy and others load greenlet without running a gevent hub.
  EXPECT_FALSE(ProcessRunsGevent(5152, kProcRoot));
}

TEST(ProcessRunsGevent, MissingProcessIsFalse) {
  EXPECT_FALSE(ProcessRunsGevent(999999, kProcRoot));
}

}  // namespace
}  // namespace stallscope
