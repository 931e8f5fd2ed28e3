#include "bpf/link_worker.h"

#include <utility>

namespace stallscope {
namespace {

// The next job of `queue`, waiting for one; nullptr once `stopping` is set and none is left.
std::function<void()> NextJob(std::mutex& mu, std::condition_variable& cv,
                              std::deque<std::function<void()>>& queue, const bool& stopping) {
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return stopping || !queue.empty(); });
  if (queue.empty()) return nullptr;
  std::function<void()> job = std::move(queue.front());
  queue.pop_front();
  return job;
}

}  // namespace

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
  while (std::function<void()> job = NextJob(mu_, cv_, jobs_, stopping_)) job();
}

void LinkWorker::DetachLoop() {
  while (std::function<void()> detach = NextJob(detach_mu_, detach_cv_, detaches_, detach_stopping_)) {
    detach();
    std::lock_guard<std::mutex> lock(detach_mu_);
    ++detach_idle_;
  }
}

}  // namespace stallscope
