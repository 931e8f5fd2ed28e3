// Work loops from Python frames, and thread-pool maxima from command lines.
#include "pools/work_loops.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

v1::Frame Py(std::string function, std::string file) {
  v1::Frame f;
  f.set_function(std::move(function));
  f.set_file(std::move(file));
  return f;
}

TEST(WorkLoopsTest, TheOutermostFrameBelowThreadingsBootstrap) {
  // An idle ThreadPoolExecutor thread, innermost first.
  std::vector<v1::Frame> frames = {
      Py("_worker", "/usr/lib/python3.11/concurrent/futures/thread.py"),
      Py("Thread.run", "/usr/lib/python3.11/threading.py"),
      Py("Thread._bootstrap_inner", "/usr/lib/python3.11/threading.py"),
      Py("Thread._bootstrap", "/usr/lib/python3.11/threading.py"),
  };
  EXPECT_EQ(WorkLoopOf(frames), "_worker (/usr/lib/python3.11/concurrent/futures/thread.py)");
  // Busy in a handler: the same loop.
  frames.insert(frames.begin(), Py("index", "/srv/app/views.py"));
  EXPECT_EQ(WorkLoopOf(frames), "_worker (/usr/lib/python3.11/concurrent/futures/thread.py)");
  // Still starting: no loop yet.
  EXPECT_EQ(WorkLoopOf({Py("Thread._bootstrap", "/usr/lib/python3.11/threading.py")}), "");
  EXPECT_EQ(WorkLoopOf({}), "");
}

TEST(WorkLoopsTest, GunicornThreadsFromTheCommandLine) {
  EXPECT_EQ(ConfiguredThreads({"/usr/bin/python3", "/usr/bin/gunicorn", "-k", "gthread", "--threads", "4", "app:app"}),
            (std::pair<uint32_t, std::string>{4, "gunicorn --threads 4"}));
  EXPECT_EQ(ConfiguredThreads({"gunicorn", "--threads=8", "--threads=6", "app:app"}).first, 6u);
  EXPECT_EQ(ConfiguredThreads({"gunicorn", "--threads", "lots"}).first, 0u);
  EXPECT_EQ(ConfiguredThreads({"gunicorn", "--threads"}).first, 0u);
  EXPECT_EQ(ConfiguredThreads({"python3", "server.py", "--threads", "4"}).first, 0u) << "not gunicorn's";
}

}  // namespace
}  // namespace stallscope
