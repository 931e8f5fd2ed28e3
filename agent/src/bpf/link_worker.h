// Attaching and detaching BPF links off the thread that polls the ring buffer.
//
// On our 6.18 VMs attaching a uprobe or tracepoint takes milliseconds, and detaching one waits
// for an RCU grace period (~200 ms) after the hook is already gone. A poll thread that waited
// for those would deliver kernel events hundreds of milliseconds late (measured: loop suspects
// handled 150-300 ms after the kernel sent them). Jobs posted here run one at a time, in order,
// on a worker thread; detaches run on a pool of threads (grown up to kMaxDetaching, then kept),
// so that their grace periods overlap instead of queueing, without a thread started per detach
// (a busy loop is armed and disarmed dozens of times a second).
#ifndef STALLSCOPE_AGENT_BPF_LINK_WORKER_H_
#define STALLSCOPE_AGENT_BPF_LINK_WORKER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace stallscope {

class LinkWorker {
 public:
  LinkWorker();
  // Runs the jobs already posted and the detaches they asked for, then stops.
  ~LinkWorker();
  LinkWorker(const LinkWorker&) = delete;
  LinkWorker& operator=(const LinkWorker&) = delete;

  // Runs `job` on the worker thread after the jobs posted before it.
  void Post(std::function<void()> job);
  // Runs `detach` on one of the detach threads, a new one when all are busy (up to
  // kMaxDetaching; past that it waits its turn). For the worker's jobs to call.
  void DetachLater(std::function<void()> detach);

  static constexpr size_t kMaxDetaching = 32;

 private:
  void Loop();
  void DetachLoop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_

  std::mutex detach_mu_;
  std::condition_variable detach_cv_;
  std::deque<std::function<void()>> detaches_;  // guarded by detach_mu_
  size_t detach_idle_ = 0;                      // guarded by detach_mu_
  bool detach_stopping_ = false;                // guarded by detach_mu_
  std::vector<std::thread> detach_threads_;     // worker thread only (DetachLater's caller)

  std::thread thread_;  // last: started once the rest exists
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_BPF_LINK_WORKER_H_
