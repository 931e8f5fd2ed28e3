// Attaching and detaching BPF links off the thread that polls the ring buffer.
//
// On our 6.18 VMs attaching a uprobe or tracepoint takes milliseconds, and detaching one waits
// for an RCU grace period (~200 ms) after the hook is already gone. A poll thread that waited
// for those would deliver kernel events hundreds of milliseconds late (measured: loop suspects
// handled 150-300 ms after the kernel sent them). Jobs posted here run one at a time, in order,
// on a worker thread; detaches each run on a short-lived thread of their own, so that their
// grace periods overlap instead of queueing.
#ifndef STALLSCOPE_AGENT_BPF_LINK_WORKER_H_
#define STALLSCOPE_AGENT_BPF_LINK_WORKER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace stallscope {

class LinkWorker {
 public:
  LinkWorker();
  // Runs the jobs already posted, then stops; waits up to ~1 s for detaches in flight.
  ~LinkWorker();
  LinkWorker(const LinkWorker&) = delete;
  LinkWorker& operator=(const LinkWorker&) = delete;

  // Runs `job` on the worker thread after the jobs posted before it.
  void Post(std::function<void()> job);
  // Runs `detach` on a thread of its own (at most kMaxDetaching at once; past that, on the
  // caller's thread). For the worker's jobs to call.
  void DetachLater(std::function<void()> detach);

  static constexpr int kMaxDetaching = 32;

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::atomic<int> detaching_{0};
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_BPF_LINK_WORKER_H_
