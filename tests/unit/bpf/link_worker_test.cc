// The worker that attaches and detaches links off the poll thread: jobs in order, detaches
// overlapping, and nothing left running once it is gone.
#include "bpf/link_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace stallscope {
namespace {

TEST(LinkWorker, RunsJobsInTheOrderPosted) {
  std::mutex mu;
  std::vector<int> order;
  {
    LinkWorker worker;
    for (int i = 0; i < 100; ++i)
      worker.Post([&, i] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      });
  }  // the destructor runs what was posted
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

// Waits until `flag` holds, up to 5 s; whether it did.
template <typename Pred>
bool WaitFor(std::mutex& mu, std::condition_variable& cv, Pred flag) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, std::chrono::seconds(5), flag);
}

TEST(LinkWorker, DetachesOverlapAndAllFinishBeforeItIsGone) {
  // Each detach waits as a grace period would, here until all eight are in flight at once:
  // they only all get there if they overlap (one after another, each would give up at 5 s).
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0, saw_all = 0;
  std::atomic<int> done{0};
  {
    LinkWorker worker;
    worker.Post([&] {
      for (int i = 0; i < 8; ++i)
        worker.DetachLater([&] {
          {
            std::lock_guard<std::mutex> lock(mu);
            ++in_flight;
          }
          cv.notify_all();
          if (WaitFor(mu, cv, [&] { return in_flight == 8; })) {
            std::lock_guard<std::mutex> lock(mu);
            ++saw_all;
          }
          done.fetch_add(1);
        });
    });
  }
  EXPECT_EQ(done.load(), 8);  // none left running
  EXPECT_EQ(saw_all, 8);
}

TEST(LinkWorker, PostDoesNotWaitForTheJob) {
  // The job waits for the poster: were Post to wait for the job, the job would time out.
  std::mutex mu;
  std::condition_variable cv;
  bool posted = false;
  std::atomic<bool> saw_post{false};
  {
    LinkWorker worker;
    worker.Post([&] { saw_post = WaitFor(mu, cv, [&] { return posted; }); });
    {
      std::lock_guard<std::mutex> lock(mu);
      posted = true;
    }
    cv.notify_all();
  }
  EXPECT_TRUE(saw_post.load());
}

}  // namespace
}  // namespace stallscope
