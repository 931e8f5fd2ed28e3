#include "daemon/ops_server.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "listen_check.h"

namespace stallscope {
namespace {

constexpr auto kAliveWithin = std::chrono::seconds(10);

}  // namespace

OpsServer::OpsServer() : last_publish_(std::chrono::steady_clock::now()) {}

void OpsServer::Routes() {
  net::HttpLimits limits;
  limits.max_connections = 4;
  limits.max_per_peer = 2;
  limits.max_connection_age = std::chrono::seconds(10);
  limits.write_timeout = std::chrono::seconds(5);
  net::GuardHttpServer(*server_, limits, [this](const httplib::Request& req, httplib::Response& res) {
    if (req.path != "/metrics" || security_->AuthorizeHttp(req, res)) return httplib::Server::HandlerResponse::Unhandled;
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    bool alive = std::chrono::steady_clock::now() - last_publish_ < kAliveWithin;
    res.status = alive ? 200 : 503;
    res.set_content(alive ? "ok\n" : "run loop stuck\n", "text/plain");
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    res.status = ready_ ? 200 : 503;
    res.set_content(ready_ ? "ready\n" : "starting\n", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    res.set_content(metrics_, "text/plain; version=0.0.4");
  });
}

OpsServer::~OpsServer() { Stop(); }

absl::StatusOr<int> OpsServer::Start(const std::string& listen, const std::string& token_file, bool insecure) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("listen: '", listen, "' is not HOST:PORT or :PORT"));
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  net::ListenerSecurityOptions sec;
  sec.token_file = token_file;
  sec.insecure = insecure;
  sec.tls_optional = true;
  sec.token_default_roles = net::kRoleRead;  // its tokens only read /metrics
  auto security = net::ListenerSecurity::Create(sec);
  // The code is kept: an unsafe token file is its own exit code (credential_file.h).
  if (!security.ok())
    return absl::Status(security.status().code(), absl::StrCat("listen_token_file: ", security.status().message()));
  // The collector's rule, in the daemon's words: /metrics tells every service on the node.
  if (!(*security)->CheckListenAddress("/metrics", host, true).ok())
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: refusing to serve /metrics on ", host.empty() ? "every address" : host,
        " without a token (--listen-token-file, listen_token_file); listen on 127.0.0.1 (the default) or the pod's "
        "address with a token, or pass --listen-insecure"));
  security_ = std::move(*security);
  security_->WatchFiles(std::chrono::seconds(2));
  server_ = security_->NewHttpServer();
  Routes();
  if (host.empty()) host = "0.0.0.0";
  absl::StatusOr<int> bound = net::BindHttpServer(*server_, host, port);
  if (!bound.ok()) return absl::Status(bound.status().code(), absl::StrCat("listen: ", bound.status().message()));
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_done_ = true;
  });
  return *bound;
}

void OpsServer::Stop() {
  // cpp-httplib's stop() does nothing before its listener thread runs: a Stop() right after
  // Start() would leave it listening and the join below waiting for ever.
  for (int i = 0; server_ && thread_.joinable() && i < 2000 && !server_->is_running() && !listen_done_; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void OpsServer::Publish(std::string metrics, bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  metrics_ = std::move(metrics);
  ready_ = ready;
  last_publish_ = std::chrono::steady_clock::now();
}

}  // namespace stallscope
