// Discovery's decisions on a fake /proc (a temp dir laid out like one), tracking through a
// recording TraceControl: which processes are tracked, the bound on tracked processes and its
// counter, and a reload that drops what the new selectors no longer pick.
#include "daemon/discovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace stallscope {
namespace {

namespace fs = std::filesystem;

class RecordingControl : public TraceControl {
 public:
  absl::Status Track(pid_t pid) override {
    tracked.insert(pid);
    return absl::OkStatus();
  }
  void Untrack(pid_t pid) override { tracked.erase(pid); }
  bool IsTracked(pid_t pid) const override { return tracked.count(pid) > 0; }
  std::vector<pid_t> Tracked() const override { return {tracked.begin(), tracked.end()}; }
  std::array<uint64_t, SS_CNT_MAX> KernelCounters() const override { return {}; }
  void DropCaches() override {}
  void SetPythonStacks(bool) override {}
  v1::AgentStats Stats() const override { return {}; }
  std::set<pid_t> tracked;
};

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("stallscope-proc-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddProcess(pid_t pid, const std::string& comm, const std::vector<std::string>& argv, const std::string& exe) {
    fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir);
    std::ofstream(dir / "stat") << pid << " (" << comm << ") S 1 0 0 0 0 4194304 0 0 0 0 0 0 0 0 0 0 0 0 "
                                << 1000 + pid << " 0\n";
    std::string cmdline;
    for (const auto& a : argv) cmdline += a + '\0';
    std::ofstream(dir / "cmdline", std::ios::binary) << cmdline;
    fs::create_symlink(exe, dir / "exe");
    std::ofstream(dir / "cgroup") << "0::/system.slice/app.service\n";
  }

  Discovery Make(std::vector<std::string> select) {
    auto selectors = SelectorSet::Create(select, {});
    EXPECT_TRUE(selectors.ok());
    return Discovery(std::move(*selectors), &identity_, root_.string());
  }

  fs::path root_;
  IdentityResolver identity_{"/nonexistent", *ParseServiceRule("comm")};
};

TEST_F(FakeProc, TracksServersUpToTheBoundAndCountsTheRest) {
  AddProcess(101, "gunicorn", {"/usr/bin/python3", "/usr/bin/gunicorn", "a.wsgi:app"}, "/usr/bin/python3.11");
  AddProcess(102, "uwsgi", {"uwsgi", "--module", "b.wsgi"}, "/usr/bin/uwsgi-core");
  AddProcess(103, "gunicorn", {"/usr/bin/python3", "/usr/bin/gunicorn", "c.wsgi:app"}, "/usr/bin/python3.11");
  AddProcess(104, "bash", {"/bin/bash"}, "/usr/bin/bash");
  Discovery d = Make({});
  RecordingControl control;
  d.Scan(control, /*max_tracked=*/2, /*paused=*/false, 1);
  EXPECT_EQ(control.tracked, (std::set<pid_t>{101, 102}));
  EXPECT_EQ(d.stats().over_limit_total, 1u);
  // Counted once, however many scans it waits; tracked when there is room.
  d.Scan(control, 2, false, 2);
  EXPECT_EQ(d.stats().over_limit_total, 1u);
  d.Scan(control, 3, false, 3);
  EXPECT_EQ(control.tracked, (std::set<pid_t>{101, 102, 103}));
  EXPECT_EQ(d.stats().tracked_total, 3u);
}

TEST_F(FakeProc, PausedDiscoveryTracksNothingNew) {
  AddProcess(101, "gunicorn", {"/usr/bin/python3", "/usr/bin/gunicorn", "a.wsgi:app"}, "/usr/bin/python3.11");
  Discovery d = Make({});
  RecordingControl control;
  d.Scan(control, 10, /*paused=*/true, 1);
  EXPECT_TRUE(control.tracked.empty());
  EXPECT_EQ(d.stats().over_limit_total, 1u);
  d.Scan(control, 10, false, 2);
  EXPECT_EQ(control.tracked, std::set<pid_t>{101});
}

TEST_F(FakeProc, AReloadDropsWhatTheNewSelectorsDoNotPick) {
  AddProcess(101, "gunicorn", {"/usr/bin/python3", "/usr/bin/gunicorn", "a.wsgi:app"}, "/usr/bin/python3.11");
  AddProcess(102, "uwsgi", {"uwsgi", "--module", "b.wsgi"}, "/usr/bin/uwsgi-core");
  Discovery d = Make({"server:gunicorn", "server:uwsgi"});
  RecordingControl control;
  d.Scan(control, 10, false, 1);
  EXPECT_EQ(control.tracked, (std::set<pid_t>{101, 102}));
  d.SetSelectors(*SelectorSet::Create({"server:uwsgi"}, {}));
  d.Scan(control, 10, false, 2);
  EXPECT_EQ(control.tracked, std::set<pid_t>{102});
  EXPECT_EQ(d.stats().untracked_total, 1u);
}

TEST_F(FakeProc, ConsiderJudgesOneProcessAtOnce) {
  Discovery d = Make({});
  RecordingControl control;
  d.Scan(control, 10, false, 1);
  AddProcess(105, "python3", {"python3", "-m", "aiohttp.web", "app:init"}, "/usr/bin/python3.11");
  d.Consider(control, 105, 10, false, 2);
  EXPECT_EQ(control.tracked, std::set<pid_t>{105});
}

}  // namespace
}  // namespace stallscope
