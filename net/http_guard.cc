#include "http_guard.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <thread>
#include <vector>

namespace {

// The socket cpp-httplib's listener thread accepted last. cpp-httplib 0.11 hands a new
// connection to the task queue only as an opaque closure, and a deadline needs the socket;
// so its accept() call (a libc import of the shared library) resolves to this definition,
// which the executable exports, and the task queue reads the socket right after, on the
// same thread. Everything else in the process (gRPC) uses accept4.
thread_local int t_last_accepted = -1;

}  // namespace

extern "C" int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  int s = accept4(fd, addr, len, 0);
  t_last_accepted = s;
  return s;
}

namespace stallscope::net {
namespace {

std::string PeerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char buf[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  else if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  return buf;
}

class GuardQueue : public httplib::TaskQueue {
 public:
  GuardQueue(const HttpLimits& limits, std::shared_ptr<HttpGuardStats> stats)
      : limits_(limits), stats_(std::move(stats)) {}

  void Start() {
    for (int i = 0; i < limits_.max_connections; ++i) workers_.emplace_back([this] { Work(false); });
    workers_.emplace_back([this] { Work(true); });
    watchdog_ = std::thread([this] { Watch(); });
  }

  ~GuardQueue() override { Shutdown(); }

  void enqueue(std::function<void()> fn) override {
    int fd = std::exchange(t_last_accepted, -1);
    Task t;
    t.fn = std::move(fn);
    // Our own reference to the socket: cutting it stays safe after cpp-httplib closed its fd
    // (which the next accept may reuse).
    t.fd = fd >= 0 ? dup(fd) : -1;
    t.peer = PeerAddress(fd);
    t.deadline = std::chrono::steady_clock::now() + limits_.max_connection_age;
    {
      std::lock_guard lock(mu_);
      t.refused = active_ >= limits_.max_connections || per_peer_[t.peer] >= limits_.max_per_peer;
      if (t.refused) {
        ++stats_->refused;
        // The closure then fails at its first read and closes the socket, on the reject thread.
        if (t.fd >= 0) ::shutdown(t.fd, SHUT_RDWR);
        rejects_.push_back(std::move(t));
      } else {
        ++active_;
        ++stats_->active;
        ++per_peer_[t.peer];
        queue_.push_back(std::move(t));
      }
    }
    cv_.notify_all();
  }

  void shutdown() override { Shutdown(); }

 private:
  struct Task {
    std::function<void()> fn;
    int fd = -1;
    std::string peer;
    std::chrono::steady_clock::time_point deadline;
    bool refused = false;
    bool cut = false;
  };

  void Shutdown() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (Task* t : running_)
        if (t->fd >= 0) ::shutdown(t->fd, SHUT_RDWR);
    }
    cv_.notify_all();
    for (std::thread& w : workers_) w.join();
    if (watchdog_.joinable()) watchdog_.join();
  }

  void Work(bool rejects) {
    std::unique_lock lock(mu_);
    while (true) {
      std::deque<Task>& q = rejects ? rejects_ : queue_;
      cv_.wait(lock, [&] { return stopping_ || !q.empty(); });
      if (q.empty()) return;  // stopping, and nothing left to close
      Task t = std::move(q.front());
      q.pop_front();
      if (!t.refused) running_.push_back(&t);
      lock.unlock();
      t.fn();
      lock.lock();
      if (t.fd >= 0) close(t.fd);
      if (!t.refused) {
        running_.erase(std::find(running_.begin(), running_.end(), &t));
        --active_;
        --stats_->active;
        if (--per_peer_[t.peer] == 0) per_peer_.erase(t.peer);
      }
    }
  }

  void Watch() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; })) {
      auto now = std::chrono::steady_clock::now();
      for (Task* t : running_) {
        if (t->cut || now < t->deadline || t->fd < 0) continue;
        t->cut = true;
        ++stats_->cut;
        ::shutdown(t->fd, SHUT_RDWR);
      }
    }
  }

  const HttpLimits limits_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_, rejects_;
  std::vector<Task*> running_;
  std::map<std::string, int> per_peer_;
  int active_ = 0;
  std::shared_ptr<HttpGuardStats> stats_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::thread watchdog_;
};

}  // namespace

std::shared_ptr<const HttpGuardStats> GuardHttpServer(httplib::Server& server, const HttpLimits& limits) {
  server.set_read_timeout(limits.read_timeout.count(), 0);
  server.set_write_timeout(limits.write_timeout.count(), 0);
  server.set_keep_alive_timeout(5);
  server.set_keep_alive_max_count(100);
  server.set_payload_max_length(limits.max_request_body);
  auto stats = std::make_shared<HttpGuardStats>();
  // cpp-httplib makes the queue when it starts listening and deletes it when it stops.
  server.new_task_queue = [limits, stats]() -> httplib::TaskQueue* {
    auto* q = new GuardQueue(limits, stats);
    q->Start();
    return q;
  };
  return stats;
}

}  // namespace stallscope::net
