#include "http_guard.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <poll.h>
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

#include "http_framing.h"

namespace stallscope::net {

// What the connection a guard thread serves may still read from its socket.
struct ReadBudget {
  int fd = -1;             // the connection's socket (reads of any other fd are not counted)
  size_t left = 0;         // bytes it may still read for this request
  bool in_headers = true;  // reading a request line and headers (not a body)
  bool closing = false;    // answer this request, then read nothing more
  HttpGuardStats* stats = nullptr;
};

}  // namespace stallscope::net

namespace {

// The socket cpp-httplib's listener thread accepted last. cpp-httplib 0.11 hands a new
// connection to the task queue only as an opaque closure, and a deadline needs the socket;
// so its accept() call (a libc import of the shared library) resolves to this definition,
// which the executable exports, and the task queue reads the socket right after, on the
// same thread. Everything else in the process (gRPC) uses accept4.
thread_local int t_last_accepted = -1;

// Set on a guard thread while it serves a connection. cpp-httplib reads a plaintext socket
// with recv and a TLS one with SSL_read (libssl itself reads with read, never counted); both
// are libc/libssl imports of the shared library, so they resolve to the definitions below,
// which pass every other thread's and every other socket's reads (a database client in a
// handler) straight through.
thread_local stallscope::net::ReadBudget* t_budget = nullptr;

// How much of `n` the current connection may read from `fd` now (n itself when not counted).
size_t Allowed(int fd, size_t n) {
  stallscope::net::ReadBudget* b = t_budget;
  if (b == nullptr || b->fd != fd) return n;
  if (b->left == 0 && b->in_headers && !b->closing) {
    ++b->stats->headers_cut;
    b->closing = true;
  }
  return std::min(n, b->left);
}

void Spend(int fd, ssize_t got) {
  if (got > 0 && t_budget != nullptr && t_budget->fd == fd) t_budget->left -= static_cast<size_t>(got);
}

}  // namespace

extern "C" int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  int s = accept4(fd, addr, len, 0);
  t_last_accepted = s;
  return s;
}

// Over its budget a connection reads as closed (0): cpp-httplib then ends the request.
extern "C" ssize_t recv(int fd, void* buf, size_t n, int flags) {
  // A peek takes nothing (cpp-httplib peeks to see whether the peer is still there).
  if (flags & MSG_PEEK) return recvfrom(fd, buf, n, flags, nullptr, nullptr);
  size_t allowed = Allowed(fd, n);
  if (allowed == 0 && n > 0) return 0;
  ssize_t got = recvfrom(fd, buf, allowed, flags, nullptr, nullptr);
  Spend(fd, got);
  return got;
}

extern "C" int SSL_read(SSL* ssl, void* buf, int n) {
  using Fn = int (*)(SSL*, void*, int);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "SSL_read"));
  if (t_budget == nullptr || n <= 0) return real(ssl, buf, n);
  int fd = SSL_get_fd(ssl);
  size_t allowed = Allowed(fd, static_cast<size_t>(n));
  if (allowed == 0) return 0;
  int got = real(ssl, buf, static_cast<int>(allowed));
  Spend(fd, got);
  return got;
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
    t.socket = fd;
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
    int fd = -1;      // our duplicate
    int socket = -1;  // cpp-httplib's descriptor, which its reads name
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
      ReadBudget budget{t.socket, t.refused ? 0 : limits_.max_request_header, true, t.refused, stats_.get()};
      t_budget = &budget;
      t.fn();
      t_budget = nullptr;
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


// Judges the body from the headers; on a refusal answers it and marks the connection closing.
bool RefuseBody(const httplib::Request& req, httplib::Response& res, const HttpLimits& limits) {
  HeaderList headers;
  for (const auto& [name, value] : req.headers) headers.emplace_back(name, value);
  size_t body = 0;
  std::optional<FramingRefusal> refusal = CheckRequestFraming(req.method, headers, limits.max_request_body, &body);
  ReadBudget* b = t_budget;
  if (!refusal) {
    if (b != nullptr) {
      b->in_headers = false;
      b->left = body;
    }
    return false;
  }
  if (b != nullptr) {
    ++b->stats->bodies_refused;
    b->closing = true;
    b->left = 0;
  }
  res.status = refusal->status;
  res.set_content(refusal->message + "\n", "text/plain; charset=utf-8");
  return true;
}

// A refused request leaves the client sending; closing a socket with unread bytes resets the
// connection, and the reset can overtake the answer. So the socket is drained (discarded, a
// fixed buffer) for up to a second, until the client stops or closes, before cpp-httplib closes it.
void LingerBeforeClose(int fd) {
  constexpr auto kLinger = std::chrono::seconds(1);
  char sink[16384];
  auto deadline = std::chrono::steady_clock::now() + kLinger;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100))) < 0) return;
    if (p.revents == 0) return;  // quiet for 100 ms: the answer is through
    if (recvfrom(fd, sink, sizeof(sink), MSG_DONTWAIT, nullptr, nullptr) <= 0) return;
  }
}

void SetHardeningHeaders(httplib::Response& res, const HttpLimits& limits, bool tls) {
  auto set = [&res](const char* name, const std::string& value) {
    if (!res.has_header(name)) res.set_header(name, value);
  };
  set("Cache-Control", "no-store");
  set("X-Content-Type-Options", "nosniff");
  set("X-Frame-Options", "DENY");
  set("Referrer-Policy", "no-referrer");
  set("Content-Security-Policy", limits.content_security_policy);
  if (tls) set("Strict-Transport-Security", "max-age=31536000");
}

}  // namespace

std::shared_ptr<const HttpGuardStats> GuardHttpServer(httplib::Server& server, const HttpLimits& limits,
                                                      PreRouting pre_routing) {
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
  // Routing runs after the headers and before any body is read; so does Expect: 100-continue.
  server.set_pre_routing_handler([limits, pre_routing](const httplib::Request& req, httplib::Response& res) {
    if (RefuseBody(req, res, limits)) return httplib::Server::HandlerResponse::Handled;
    return pre_routing ? pre_routing(req, res) : httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_expect_100_continue_handler([limits](const httplib::Request& req, httplib::Response& res) {
    return RefuseBody(req, res, limits) ? res.status : 100;
  });
  bool tls = dynamic_cast<httplib::SSLServer*>(&server) != nullptr;
  // Before every response is written, cpp-httplib's own errors (400, 414) included.
  server.set_post_routing_handler([limits, tls](const httplib::Request&, httplib::Response& res) {
    SetHardeningHeaders(res, limits, tls);
    ReadBudget* b = t_budget;
    if (b == nullptr) return;
    // A request cpp-httplib could not parse (before routing) or one refused leaves unread
    // bytes that are no request: close after it. A handler's own 400 keeps the connection.
    if (b->in_headers && (res.status == 400 || res.status == 414)) b->closing = true;
    if (b->closing) {
      res.headers.erase("Keep-Alive");
      res.headers.erase("Connection");
      res.set_header("Connection", "close");
    }
  });
  // After every response: the next request may read its headers, unless this one closes.
  server.set_logger([limits](const httplib::Request&, const httplib::Response&) {
    ReadBudget* b = t_budget;
    if (b == nullptr) return;
    b->in_headers = true;
    b->left = b->closing ? 0 : limits.max_request_header;
    if (!b->closing) return;
    LingerBeforeClose(b->fd);
    ::shutdown(b->fd, SHUT_RD);  // the connection ends now, not after the keep-alive wait
  });
  return stats;
}

}  // namespace stallscope::net
