#include "bpf/link_worker.h"

#include <utility>

namespace stallscope {

LinkWorker::LinkWorker() : thread_([this] { Loop(); }) {}

LinkWorker::~LinkWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();  // the jobs left run first, and may ask for detaches
  {
    std::lock_guard<std::mutex> lock(detach_mu_);
    detach_stopping_ = true;
  }
  detach_cv_.notify_all();
  // Detaches hold links of programs their owner is about to unload: all of them finish first.
  for (std::thread& t : detach_threads_) t.join();
}

void LinkWorker::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void LinkWorker::DetachLater(std::function<void()> detach) {
  bool grow = false;
  {
    std::lock_guard<std::mutex> lock(detach_mu_);
    detaches_.push_back(std::move(detach));
    if (detach_idle_ > 0)
      --detach_idle_;  // that thread takes it
    else
      grow = detach_threads_.size() < kMaxDetaching;
  }
  if (grow) detach_threads_.emplace_back([this] { DetachLoop(); });
  detach_cv_.notify_one();
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

void LinkWorker::DetachLoop() {
  for (;;) {
    std::function<void()> detach;
    {
      std::unique_lock<std::mutex> lock(detach_mu_);
      detach_cv_.wait(lock, [this] { return detach_stopping_ || !detaches_.empty(); });
      if (detaches_.empty()) return;  // stopping, and nothing left to detach
      detach = std::move(detaches_.front());
      detaches_.pop_front();
    }
    detach();
    std::lock_guard<std::mutex> lock(detach_mu_);
    ++detach_idle_;
  }
}

}  // namespace stallscope
