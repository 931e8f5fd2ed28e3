// Live tests: real CPython processes running scripts with functions at known lines; the
// reader's stacks must match them (and CPython's own view of them) exactly.
#include "python/python_process.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "python/live_python.h"
#include "python/python_scripts.h"

namespace stallscope {
namespace {

using ::stallscope::testing::LivePython;
using ::stallscope::testing::MarkedLine;
using Stack = std::vector<v1::Frame>;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Describe(const Stack& stack) {
  std::string text;
  for (const v1::Frame& f : stack) {
    text += "  " + f.function() + " (" + f.file() + ":" + std::to_string(f.line()) + ") [" +
            f.module() + "]\n";
  }
  return text.empty() ? "  (empty)\n" : text;
}

// The number after `prefix` in a line like "READY 1234".
pid_t TidAfter(const std::optional<std::string>& line, const std::string& prefix) {
  if (!line.has_value() || line->size() <= prefix.size()) return 0;
  return static_cast<pid_t>(std::stol(line->substr(prefix.size())));
}

// Reads the stack until `done` holds (the target may still be on its way to the blocking
// call), for up to 5 s; returns the last stack read.
Stack StackWhen(PythonProcess& process, pid_t tid, const std::function<bool(const Stack&)>& done) {
  Stack stack;
  for (int i = 0; i < 250; ++i) {
    absl::StatusOr<Stack> read = process.ThreadStack(tid);
    if (read.ok()) {
      stack = *read;
      if (done(stack)) break;
    }
    usleep(20'000);
  }
  return stack;
}

auto InnermostIs(const std::string& function) {
  return [function](const Stack& s) { return !s.empty() && s[0].function() == function; };
}

void ExpectFrame(const Stack& stack, size_t index, const std::string& function, int line,
                 const std::string& file) {
  ASSERT_LT(index, stack.size()) << Describe(stack);
  EXPECT_EQ(stack[index].function(), function) << "frame " << index << "\n" << Describe(stack);
  EXPECT_EQ(stack[index].line(), static_cast<uint32_t>(line)) << "frame " << index << "\n"
                                                              << Describe(stack);
  EXPECT_EQ(stack[index].file(), file) << "frame " << index << "\n" << Describe(stack);
  EXPECT_EQ(stack[index].kind(), v1::Frame::PYTHON);
}

// CPU time of this thread: wall time is noisy on a loaded machine.
double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

struct Interpreter {
  const char* name;
  const char* python;
  const char* version;
  const char* object_suffix;  // where _PyRuntime must have been found
  bool qualified_names;       // co_qualname (3.11+); before, functions are named by co_name
  bool free_threaded = false;  // no GIL: never a GIL holder

  // `qualified` as this version names it: "Handler.get", or "get" before 3.11.
  std::string Name(const std::string& qualified) const {
    if (qualified_names) return qualified;
    size_t dot = qualified.rfind('.');
    return dot == std::string::npos ? qualified : qualified.substr(dot + 1);
  }
};

// Readable test names in ctest (gtest prints the parameter next to each name).
void PrintTo(const Interpreter& i, std::ostream* os) { *os << i.name; }

// Every interpreter the reader supports that is installed here.
const Interpreter kInterpreters[] = {
    {"Pyenv38", "/root/.pyenv/versions/3.8.18/bin/python3.8", "3.8", "/libpython3.8.so.1.0",
     false},
    {"Pyenv39", "/root/.pyenv/versions/3.9.18/bin/python3.9", "3.9", "/libpython3.9.so.1.0",
     false},
    {"Pyenv310", "/root/.pyenv/versions/3.10.13/bin/python3.10", "3.10", "/libpython3.10.so.1.0",
     false},
    {"Debian311", testing::kDebianPython, "3.11.2", "/usr/bin/python3.11", true},
    {"Pyenv311", "/root/.pyenv/versions/3.11.7/bin/python3.11", "3.11.7", "/libpython3.11.so.1.0",
     true},
    {"Pyenv312", "/root/.pyenv/versions/3.12.1/bin/python3.12", "3.12.1", "/libpython3.12.so.1.0",
     true},
    {"Pyenv313", "/root/.pyenv/versions/3.13.0/bin/python3.13", "3.13.0", "/libpython3.13.so.1.0",
     true},
    // Built by scripts/python-roots.sh trixie-ft (static, --disable-gil); runs on the host too.
    {"FreeThreaded313t", "/var/cache/stallscope/roots/trixie/opt/python3.13t/bin/python3.13t",
     "3.13.5", "/bin/python3.13t", true, true},
};

class PythonVersionTest : public ::testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    if (!Exists(GetParam().python)) {
      printf("[ skipped  ] %s: %s is not installed\n", GetParam().name, GetParam().python);
      GTEST_SKIP() << GetParam().python << " is not installed";
    }
  }

  std::unique_ptr<LivePython> Start(const char* script, const std::string& name,
                                    const std::vector<std::string>& args = {}) {
    return LivePython::Start(GetParam().python, script, name, args);
  }
};

class PythonThreadsTest : public PythonVersionTest {
 protected:
  void SetUp() override {
    PythonVersionTest::SetUp();
    if (IsSkipped()) return;
    app_ = Start(testing::kThreadsScript, "threads_app.py");
    ASSERT_NE(app_, nullptr);
    // Threads print in any order: take every line up to READY, then parse.
    std::vector<std::string> lines;
    for (std::optional<std::string> line = app_->WaitForLine("");; line = app_->WaitForLine("")) {
      ASSERT_TRUE(line.has_value()) << "no READY; stderr:\n" << app_->Stderr();
      if (*line == "READY") break;
      lines.push_back(*line);
    }
    for (const std::string& line : lines) {
      if (line.starts_with("THREAD waiter ")) waiter_ = TidAfter(line, "THREAD waiter ");
      if (line.starts_with("THREAD spinner ")) spinner_ = TidAfter(line, "THREAD spinner ");
      if (line.starts_with("THREAD main ")) main_ = TidAfter(line, "THREAD main ");
      if (!line.starts_with("EXPECT ")) continue;
      std::vector<std::string> fields;
      size_t start = 7;
      for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) {
        fields.push_back(line.substr(start, tab - start));
      }
      fields.push_back(line.substr(start));
      ASSERT_EQ(fields.size(), 3u) << line;
      v1::Frame frame;
      frame.set_function(fields[0]);
      frame.set_line(static_cast<uint32_t>(std::stoul(fields[1])));
      frame.set_file(fields[2]);
      waiter_expected_.push_back(frame);
    }
    ASSERT_GT(waiter_, 0);
    ASSERT_GT(spinner_, 0);
    ASSERT_GT(main_, 0);
    ASSERT_FALSE(waiter_expected_.empty());
  }

  int Line(const std::string& marker) { return MarkedLine(testing::kThreadsScript, marker); }

  std::unique_ptr<LivePython> app_;
  pid_t main_ = 0;
  pid_t waiter_ = 0;
  pid_t spinner_ = 0;
  Stack waiter_expected_;  // as CPython itself reported it (sys._current_frames)
};

TEST_P(PythonThreadsTest, ReadsEveryThreadsStack) {
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app_->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  PythonProcess& python = **process;
  EXPECT_EQ(python.version(), GetParam().version);
  EXPECT_TRUE(python.interpreter_path().ends_with(GetParam().object_suffix))
      << python.interpreter_path();

  absl::StatusOr<std::vector<pid_t>> tids = python.ThreadIds();
  ASSERT_TRUE(tids.ok()) << tids.status();
  std::vector<pid_t> expected_tids = {main_, waiter_, spinner_};
  std::sort(expected_tids.begin(), expected_tids.end());
  EXPECT_EQ(*tids, expected_tids);

  const std::string& script = app_->script_path();
  // Main thread: asleep in c() <- b() <- a() <- main() <- <module>.
  Stack main_stack = StackWhen(python, main_, InnermostIs("c"));
  ASSERT_EQ(main_stack.size(), 5u) << Describe(main_stack);
  ExpectFrame(main_stack, 0, "c", Line("c_sleep"), script);
  ExpectFrame(main_stack, 1, "b", Line("b_call"), script);
  ExpectFrame(main_stack, 2, "a", Line("a_call"), script);
  ExpectFrame(main_stack, 3, "main", Line("main_call"), script);
  ExpectFrame(main_stack, 4, "<module>", Line("module_call"), script);
  EXPECT_EQ(main_stack[0].module(), "threads_app");

  // Waiter: exactly what CPython reported for it, frame by frame.
  absl::StatusOr<Stack> waiter_stack = python.ThreadStack(waiter_);
  ASSERT_TRUE(waiter_stack.ok()) << waiter_stack.status();
  ASSERT_EQ(waiter_stack->size(), waiter_expected_.size())
      << "read:\n"
      << Describe(*waiter_stack) << "CPython:\n"
      << Describe(waiter_expected_);
  for (size_t i = 0; i < waiter_expected_.size(); ++i) {
    ExpectFrame(*waiter_stack, i, waiter_expected_[i].function(), waiter_expected_[i].line(),
                waiter_expected_[i].file());
  }
  // The futex wait is Condition.wait <- Event.wait <- Handler.get (a method: qualified name).
  ExpectFrame(*waiter_stack, 2, GetParam().Name("Handler.get"), Line("handler_wait"), script);
  ExpectFrame(*waiter_stack, 3, "waiter", Line("waiter_call"), script);
  EXPECT_EQ((*waiter_stack)[0].module(), "threading");
  EXPECT_EQ(waiter_stack->back().function(), GetParam().Name("Thread._bootstrap"));

  // Spinner: on CPU, so read it until caught inside spin().
  Stack spin_stack = StackWhen(python, spinner_, InnermostIs("spin"));
  ExpectFrame(spin_stack, 0, "spin", Line("spin"), script);
  ExpectFrame(spin_stack, 1, "spinner", Line("spinner_call"), script);
  EXPECT_EQ(spin_stack.back().function(), GetParam().Name("Thread._bootstrap"))
      << Describe(spin_stack);
}

TEST_P(PythonThreadsTest, MeasuresWalkCost) {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app_->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  double open_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  PythonProcess& python = **process;
  StackWhen(python, main_, InnermostIs("c"));  // the main thread reached its sleep

  // Cold: nothing cached (a fresh reader), every code object decoded.
  process = PythonProcess::Open(app_->pid());
  ASSERT_TRUE(process.ok());
  PythonProcess& cold = **process;
  auto walk = [](PythonProcess& p, size_t* frames) {
    absl::StatusOr<std::vector<pid_t>> tids = p.ThreadIds();
    *frames = 0;
    if (!tids.ok()) return false;
    for (pid_t tid : *tids) {
      absl::StatusOr<Stack> stack = p.ThreadStack(tid);
      if (!stack.ok()) return false;
      *frames += stack->size();
    }
    return true;
  };
  size_t frames = 0;
  start = Clock::now();
  ASSERT_TRUE(walk(cold, &frames));
  double cold_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  uint64_t cold_reads = cold.read_calls();

  constexpr int kWalks = 1000;
  uint64_t reads_before = cold.read_calls();
  start = Clock::now();
  double cpu_start = ThreadCpuMicros();
  for (int i = 0; i < kWalks; ++i) ASSERT_TRUE(walk(cold, &frames));
  double warm_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kWalks;
  double warm_cpu_us = (ThreadCpuMicros() - cpu_start) / kWalks;
  double reads_per_walk = static_cast<double>(cold.read_calls() - reads_before) / kWalks;

  // Stack reads alone, thread states known (what the agent does per stall).
  absl::StatusOr<std::vector<pid_t>> tids = cold.ThreadIds();
  ASSERT_TRUE(tids.ok());
  start = Clock::now();
  cpu_start = ThreadCpuMicros();
  for (int i = 0; i < kWalks; ++i) {
    for (pid_t tid : *tids) ASSERT_TRUE(cold.ThreadStack(tid).ok());
  }
  double stacks_us =
      std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kWalks;
  double stacks_cpu_us = (ThreadCpuMicros() - cpu_start) / kWalks;

  printf(
      "[ cost     ] %s: Open %.0f us; full walk of %zu threads / %zu frames: cold %.0f us "
      "(%lu reads), warm %.1f us wall / %.1f us CPU (%.1f reads); stacks only (thread "
      "states cached) %.1f us wall / %.1f us CPU; code cache %zu entries, %lu hits, %lu "
      "misses\n",
      GetParam().name, open_us, tids->size(), frames, cold_us,
      static_cast<unsigned long>(cold_reads), warm_us, warm_cpu_us, reads_per_walk, stacks_us,
      stacks_cpu_us, cold.code_cache().size(), static_cast<unsigned long>(cold.code_cache().hits()),
      static_cast<unsigned long>(cold.code_cache().misses()));
  EXPECT_EQ(tids->size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(PythonVersions, PythonThreadsTest, ::testing::ValuesIn(kInterpreters),
                         [](const ::testing::TestParamInfo<Interpreter>& info) {
                           return info.param.name;
                         });

TEST_P(PythonVersionTest, AsyncioRunningTaskChain) {
  auto app = Start(testing::kAsyncioScript, "async_app.py");
  ASSERT_NE(app, nullptr);
  pid_t tid = TidAfter(app->WaitForLine("READY"), "READY ");
  ASSERT_GT(tid, 0) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  Stack stack = StackWhen(**process, tid, [&](const Stack& s) {
    return !s.empty() &&
           s[0].line() == static_cast<uint32_t>(MarkedLine(testing::kAsyncioScript, "inner_sleep"));
  });
  const std::string& script = app->script_path();
  ExpectFrame(stack, 0, "inner", MarkedLine(testing::kAsyncioScript, "inner_sleep"), script);
  ExpectFrame(stack, 1, "outer", MarkedLine(testing::kAsyncioScript, "outer_await"), script);
  ASSERT_GE(stack.size(), 3u);
  // The task is run by the loop: Handle._run <- BaseEventLoop._run_once <- ... <- <module>.
  EXPECT_EQ(stack[2].function(), GetParam().Name("Handle._run")) << Describe(stack);
  EXPECT_EQ(stack[2].module(), "asyncio.events");
  bool run_once = false;
  for (const v1::Frame& f : stack) {
    run_once |= f.function() == GetParam().Name("BaseEventLoop._run_once");
    // main() awaits the task: suspended, so not on the thread's stack.
    EXPECT_NE(f.function(), "main") << Describe(stack);
  }
  EXPECT_TRUE(run_once) << Describe(stack);
  EXPECT_EQ(stack.back().function(), "<module>");
}

TEST_P(PythonVersionTest, ConstructorShimFramesAreNotShown) {
  auto app = Start(testing::kInitShimScript, "init_app.py");
  ASSERT_NE(app, nullptr);
  pid_t tid = TidAfter(app->WaitForLine("READY"), "READY ");
  ASSERT_GT(tid, 0) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  const std::string init = GetParam().Name("Slow.__init__");
  Stack stack = StackWhen(**process, tid, [&](const Stack& s) {
    return !s.empty() && s[0].function() == init &&
           s[0].line() == static_cast<uint32_t>(MarkedLine(testing::kInitShimScript, "init_sleep"));
  });
  // The shim between make() and Slow.__init__ is the interpreter's, not the program's.
  const std::string& script = app->script_path();
  ASSERT_EQ(stack.size(), 3u) << Describe(stack);
  ExpectFrame(stack, 0, init, MarkedLine(testing::kInitShimScript, "init_sleep"), script);
  ExpectFrame(stack, 1, "make", MarkedLine(testing::kInitShimScript, "make_call"), script);
  ExpectFrame(stack, 2, "<module>", MarkedLine(testing::kInitShimScript, "module"), script);
}

TEST(PythonProcessTest, GeventGreenletBlockedInNativeSleep) {
  auto app = LivePython::Start(testing::kDebianPython, testing::kGeventScript, "gevent_app.py",
                               {"blocked"});
  ASSERT_NE(app, nullptr);
  pid_t tid = TidAfter(app->WaitForLine("READY"), "READY ");
  ASSERT_GT(tid, 0) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  int sleep_line = MarkedLine(testing::kGeventScript, "blocker_sleep");
  Stack stack = StackWhen(**process, tid, [&](const Stack& s) {
    return !s.empty() && s[0].line() == static_cast<uint32_t>(sleep_line);
  });
  // The running greenlet's frames; the parked main greenlet (<module>) is not on the thread.
  ExpectFrame(stack, 0, "blocker", sleep_line, app->script_path());
  ExpectFrame(stack, 1, "handler", MarkedLine(testing::kGeventScript, "handler_call"),
              app->script_path());
  for (const v1::Frame& f : stack) EXPECT_NE(f.function(), "<module>") << Describe(stack);
}

TEST(PythonProcessTest, GeventIdleThreadShowsTheHub) {
  auto app =
      LivePython::Start(testing::kDebianPython, testing::kGeventScript, "gevent_app.py", {"idle"});
  ASSERT_NE(app, nullptr);
  pid_t tid = TidAfter(app->WaitForLine("READY"), "READY ");
  ASSERT_GT(tid, 0) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  Stack stack = StackWhen(**process, tid, InnermostIs("Hub.run"));
  ASSERT_FALSE(stack.empty());
  EXPECT_EQ(stack[0].function(), "Hub.run") << Describe(stack);
  EXPECT_EQ(stack[0].module(), "gevent.hub");
  EXPECT_TRUE(stack[0].file().ends_with("/gevent/hub.py")) << stack[0].file();
  EXPECT_GT(stack[0].line(), 0u);
}

// Reads racing a target that changes its stacks and threads all the time: errors are
// allowed (a thread gone mid-read), garbage is not. Every frame of the script must name one of
// its functions with a line inside that function.
TEST_P(PythonVersionTest, ChurningTargetNeverYieldsGarbage) {
  auto app = Start(testing::kChurnScript, "churn_app.py");
  ASSERT_NE(app, nullptr);
  ASSERT_TRUE(app->WaitForLine("READY").has_value()) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();

  auto lines = [](const std::string& first, const std::string& last) {
    return std::make_pair(MarkedLine(testing::kChurnScript, first),
                          MarkedLine(testing::kChurnScript, last));
  };
  const std::map<std::string, std::pair<int, int>> functions = {
      {"leaf", lines("leaf_def", "leaf")},
      {"rec", lines("rec_def", "rec_last")},
      {"churn", lines("churn_def", "churn_last")},
      {"short_lived", lines("short_lived_def", "short_lived")},
      {"spawner", lines("spawner_def", "spawner_last")},
      {"<module>", {1, MarkedLine(testing::kChurnScript, "module")}},
  };
  int stacks = 0, frames = 0, errors = 0, deep = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<std::vector<pid_t>> tids = (*process)->ThreadIds();
    ASSERT_TRUE(tids.ok()) << tids.status();
    for (pid_t tid : *tids) {
      absl::StatusOr<Stack> stack = (*process)->ThreadStack(tid);
      if (!stack.ok()) {
        ++errors;
        continue;
      }
      ++stacks;
      deep += stack->size() > 20;
      // The calls nest: leaf <- rec ... rec <- (churn | short_lived) <- ...: a frame found
      // out of that order would come from a chain copied while it changed.
      int rank = 0;  // leaf 0, rec 1, the rest 2
      for (const v1::Frame& f : *stack) {
        if (f.file() != app->script_path()) continue;
        int frame_rank = f.function() == "leaf" ? 0 : f.function() == "rec" ? 1 : 2;
        EXPECT_GE(frame_rank, rank) << Describe(*stack);
        rank = frame_rank;
      }
      for (const v1::Frame& f : *stack) {
        ++frames;
        if (f.file() != app->script_path()) {
          // The standard library (threading, random): named, with a line.
          EXPECT_FALSE(f.function().empty()) << Describe(*stack);
          EXPECT_TRUE(f.file().ends_with(".py")) << Describe(*stack);
          continue;
        }
        auto it = functions.find(f.function());
        ASSERT_NE(it, functions.end()) << Describe(*stack);
        EXPECT_GE(f.line(), static_cast<uint32_t>(it->second.first)) << Describe(*stack);
        EXPECT_LE(f.line(), static_cast<uint32_t>(it->second.second)) << Describe(*stack);
      }
    }
  }
  const CPythonReader::Stats& stats = (*process)->stack_stats();
  printf(
      "[ churn    ] %d stacks (%d deeper than 20), %d frames, %d reads failed; %lu retries, "
      "%lu stacks cut to their settled outer frames\n",
      stacks, deep, frames, errors, static_cast<unsigned long>(stats.retries),
      static_cast<unsigned long>(stats.truncated));
  EXPECT_GT(stacks, 100);
  EXPECT_GT(deep, 0);
}

TEST_P(PythonVersionTest, GilHolderIsTheSpinningThread) {
  auto app = Start(testing::kGilScript, "gil_app.py", {"spin"});
  ASSERT_NE(app, nullptr);
  pid_t spinner = TidAfter(app->WaitForLine("SPINNER"), "SPINNER ");
  pid_t main_tid = TidAfter(app->WaitForLine("READY"), "READY ");
  ASSERT_GT(spinner, 0) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  usleep(100'000);  // let main reach its wait
  EXPECT_EQ((*process)->free_threaded(), GetParam().free_threaded);
  if (GetParam().free_threaded) {
    // No GIL: nobody holds it, even with a thread on CPU.
    for (int i = 0; i < 10; ++i) EXPECT_EQ((*process)->GilHolder(), std::nullopt);
    return;
  }
  int spinner_holds = 0;
  int other = 0;
  constexpr int kSamples = 50;
  for (int i = 0; i < kSamples; ++i) {
    std::optional<pid_t> holder = (*process)->GilHolder();
    if (holder == spinner) ++spinner_holds;
    if (holder.has_value() && *holder != spinner) ++other;
    usleep(2'000);
  }
  EXPECT_GE(spinner_holds, kSamples / 2) << "main is " << main_tid;
  EXPECT_LE(other, 2);  // main only wakes for nothing here
}

TEST_P(PythonVersionTest, NoGilHolderWhenEveryThreadSleeps) {
  auto app = Start(testing::kGilScript, "gil_app.py", {"sleep"});
  ASSERT_NE(app, nullptr);
  ASSERT_TRUE(app->WaitForLine("READY").has_value()) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  usleep(100'000);
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*process)->GilHolder(), std::nullopt);
}

TEST(PythonProcessTest, NonPythonProcessIsNotFound) {
  auto sleeper = LivePython::StartCommand({"/bin/sleep", "30"});
  ASSERT_NE(sleeper, nullptr);
  usleep(50'000);
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(sleeper->pid());
  EXPECT_TRUE(absl::IsNotFound(process.status())) << process.status();

  // Ourselves: a C++ program, not Python.
  process = PythonProcess::Open(getpid());
  EXPECT_TRUE(absl::IsNotFound(process.status())) << process.status();
}

TEST(PythonProcessTest, UnprivilegedReaderIsPermissionDenied) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (to start a target the reader may not read)";
  auto app = LivePython::Start(testing::kDebianPython,
                               "import time\nprint('READY', flush=True)\n"
                               "time.sleep(300)\n",
                               "root_app.py");
  ASSERT_NE(app, nullptr);
  ASSERT_TRUE(app->WaitForLine("READY").has_value());
  pid_t target = app->pid();
  // In a child that becomes "nobody": a root process is not theirs to read.
  EXPECT_EXIT(
      {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
        absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(target);
        fprintf(stderr, "%s\n", process.status().ToString().c_str());
        _exit(absl::IsPermissionDenied(process.status()) ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "PERMISSION_DENIED");
}

TEST(PythonProcessTest, MissingProcessIsNotFound) {
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(0x3fffffff);
  EXPECT_TRUE(absl::IsNotFound(process.status())) << process.status();
}

TEST(PythonProcessTest, ThreadWithoutPythonStateIsNotFound) {
  auto app = LivePython::Start(testing::kDebianPython, testing::kAsyncioScript, "async_app.py");
  ASSERT_NE(app, nullptr);
  ASSERT_TRUE(app->WaitForLine("READY").has_value()) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<Stack> stack = (*process)->ThreadStack(getpid());  // not one of its threads
  EXPECT_TRUE(absl::IsNotFound(stack.status())) << stack.status();
}

TEST_P(PythonVersionTest, KilledTargetGivesAnErrorNotACrash) {
  auto app = Start(testing::kAsyncioScript, "async_app.py");
  ASSERT_NE(app, nullptr);
  pid_t tid = TidAfter(app->WaitForLine("READY"), "READY ");
  ASSERT_GT(tid, 0) << app->Stderr();
  absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
  ASSERT_TRUE(process.ok()) << process.status();
  ASSERT_TRUE((*process)->ThreadStack(tid).ok());

  app->Kill(/*reap=*/false);  // a zombie: its memory is gone, its pid not yet
  usleep(50'000);
  absl::StatusOr<Stack> stack = (*process)->ThreadStack(tid);
  EXPECT_FALSE(stack.ok());
  EXPECT_FALSE((*process)->ThreadIds().ok());
  EXPECT_EQ((*process)->GilHolder(), std::nullopt);

  app->Kill();  // reaped: the pid is gone
  stack = (*process)->ThreadStack(tid);
  EXPECT_FALSE(stack.ok());
  EXPECT_TRUE(absl::IsNotFound(stack.status())) << stack.status();
}

// Versions without a verified layout are refused by name, not misread.
TEST(PythonProcessTest, UnverifiedVersionsAreUnimplemented) {
  struct Other {
    const char* python;
    const char* named;
  };
  const Other others[] = {
      {"/root/.pyenv/versions/3.7.16/bin/python3.7", "3.7"},
  };
  int tried = 0;
  for (const Other& other : others) {
    if (!Exists(other.python)) continue;
    ++tried;
    auto app = LivePython::Start(other.python,
                                 "import time\nprint('READY', flush=True)\n"
                                 "time.sleep(300)\n",
                                 "old_app.py");
    ASSERT_NE(app, nullptr);
    ASSERT_TRUE(app->WaitForLine("READY").has_value()) << other.python << app->Stderr();
    absl::StatusOr<std::unique_ptr<PythonProcess>> process = PythonProcess::Open(app->pid());
    EXPECT_TRUE(absl::IsUnimplemented(process.status()))
        << other.python << ": " << process.status();
    EXPECT_NE(process.status().message().find(std::string("CPython ") + other.named),
              std::string::npos)
        << process.status();
  }
  if (tried == 0) GTEST_SKIP() << "no other CPython version installed under /root/.pyenv";
}

INSTANTIATE_TEST_SUITE_P(PythonVersions, PythonVersionTest, ::testing::ValuesIn(kInterpreters),
                         [](const ::testing::TestParamInfo<Interpreter>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace stallscope
