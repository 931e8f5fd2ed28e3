#include "bpf/link_worker.h"

#include <chrono>
#include <utility>

namespace stallscope {

LinkWorker::LinkWorker() : thread_([this] { Loop(); }) {}

LinkWorker::~LinkWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  // Detach threads may hold links of programs their owner is about to unload.
  for (int i = 0; i < 100 && detaching_.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void LinkWorker::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void LinkWorker::DetachLater(std::function<void()> detach) {
  if (detaching_.fetch_add(1) >= kMaxDetaching) {
    detach();  // too many in flight: wait here rather than pile up threads
    detaching_.fetch_sub(1);
    return;
  }
  std::thread([this, detach = std::move(detach)] {
    detach();
    detaching_.fetch_sub(1);
  }).detach();
}

void LinkWorker::Loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left to run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace stallscope
