// stallscope-collector: receives agents' report streams, stores them (SQLite or PostgreSQL),
// and serves the query API, the dashboard and /metrics.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector_options.h"
#include "collector_service.h"
#include "credential_file.h"
#include "http_api.h"
#include "ingestor.h"
#include "listener_security.h"
#include "listen_check.h"
#include "metrics.h"
#include "store.h"

namespace {

using namespace stallscope::collector;
using stallscope::net::ListenerSecurity;

int Fail(const std::string& message, int code) {
  fprintf(stderr, "stallscope-collector: %s\n", message.c_str());
  return code;
}

// Raises the soft fd limit to the hard one, so that connection caps (not the fd table) are
// what refuses a flood. Returns the limit in force.
rlim_t RaiseFdLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

size_t OpenFds() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n > 2 ? n - 2 : n;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = ParseCollectorOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!options.ok()) return Fail(std::string(options.status().message()), 2);
  if (options->help) {
    fputs(kCollectorHelp, stdout);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  // SIGINT/SIGTERM (stop) and SIGHUP (reload the TLS and token files) are taken
  // synchronously below, by a thread that waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  stallscope::net::ListenerSecurityOptions sec;
  sec.tls_cert = options->tls_cert;
  sec.tls_key = options->tls_key;
  sec.client_ca = options->client_ca;
  sec.token_file = options->token_file;
  sec.insecure = options->insecure;
  auto security = ListenerSecurity::Create(sec);
  if (!security.ok())
    return Fail(std::string(security.status().message()),
                absl::IsPermissionDenied(security.status()) ? stallscope::net::kExitUnsafeCredentials : 1);
  for (auto [what, hp, http] : {std::tuple{"agent streams", options->grpc_listen, false},
                                std::tuple{"the HTTP API", options->http_listen, true}}) {
    if (absl::Status st = (*security)->CheckListenAddress(what, hp.host, http); !st.ok())
      return Fail(std::string(st.message()), 2);
  }
  rlim_t fd_limit = RaiseFdLimit();

  auto store = Store::Open(options->db);
  if (!store.ok()) return Fail(std::string(store.status().message()), 1);
  Metrics metrics;
  Ingestor::Options ingest_options;
  ingest_options.retention = options->retention;
  Ingestor ingestor(store->get(), &metrics, ingest_options);
  metrics.SetQueueDepth([&ingestor] { return ingestor.queued_reports(); });
  ingestor.Start();

  CollectorService::Options service_options;
  service_options.max_streams = options->max_streams;
  service_options.max_streams_per_principal = options->max_streams_per_principal;
  service_options.identity_timeout = options->identity_timeout;
  service_options.retention = options->retention;
  service_options.security = security->get();
  CollectorService service(&ingestor, &metrics, service_options);
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  if (absl::Status st = stallscope::net::AddGrpcListeningPort(builder, options->grpc_listen.host, options->grpc_listen.port,
                                                              (*security)->GrpcCredentials(), &grpc_port);
      !st.ok())
    return Fail(absl::StrCat("--grpc-listen: ", st.message()),
                absl::IsAlreadyExists(st) ? stallscope::net::kExitAddressInUse : 1);
  CollectorService::Configure(builder, options->max_message_bytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0)
    return Fail(absl::StrCat("cannot listen for agents on ",
                             stallscope::net::ListenAddress(options->grpc_listen.host, options->grpc_listen.port),
                             " (in use?)"),
                1);
  service.set_listen_port(grpc_port);
  service.InstallFloodGuard();

  // 503 while the store fails or the fd table is nearly full (a listener could not accept).
  auto health = [&store, fd_limit]() -> absl::Status {
    if (size_t fds = OpenFds(); fds * 10 >= fd_limit * 9)
      return absl::UnavailableError(absl::StrCat("file descriptors nearly exhausted: ", fds, " of ", fd_limit));
    absl::Status st = (*store)->Check();
    return st.ok() ? st : absl::UnavailableError(absl::StrCat("store: ", st.message()));
  };
  HttpApi http(store->get(), &metrics, security->get(), health);
  metrics.SetExtra([&http, &security, &service](std::string& out) {
    const auto& g = http.guard_stats();
    absl::StrAppend(&out,
                    "# HELP stallscope_collector_http_connections_refused_total HTTP connections closed at accept "
                    "(over the connection caps).\n# TYPE stallscope_collector_http_connections_refused_total counter\n",
                    "stallscope_collector_http_connections_refused_total ", g.refused.load(), "\n",
                    "# HELP stallscope_collector_http_connections_cut_total HTTP connections cut at their maximum "
                    "age (slow clients).\n# TYPE stallscope_collector_http_connections_cut_total counter\n",
                    "stallscope_collector_http_connections_cut_total ", g.cut.load(), "\n",
                    "# HELP stallscope_collector_http_requests_refused_total HTTP requests answered and closed "
                    "before reading them whole: a body (411/413/415) or headers over 16 KiB.\n"
                    "# TYPE stallscope_collector_http_requests_refused_total counter\n",
                    "stallscope_collector_http_requests_refused_total{reason=\"body\"} ", g.bodies_refused.load(), "\n",
                    "stallscope_collector_http_requests_refused_total{reason=\"headers\"} ", g.headers_cut.load(), "\n",
                    "# HELP stallscope_collector_grpc_connections_cut_total gRPC connections cut for opening "
                    "streams too fast (HTTP/2 rapid reset).\n# TYPE stallscope_collector_grpc_connections_cut_total "
                    "counter\n",
                    "stallscope_collector_grpc_connections_cut_total ", service.connections_cut(), "\n",
                    "# HELP stallscope_collector_grpc_connections_refused_total gRPC connections closed at accept: "
                    "their address was cut for a stream flood within the last 30 s.\n"
                    "# TYPE stallscope_collector_grpc_connections_refused_total counter\n",
                    "stallscope_collector_grpc_connections_refused_total ", service.connections_refused(), "\n",
                    "# HELP stallscope_collector_tls_reloads_total Reloads of the TLS and token files, by result.\n",
                    "# TYPE stallscope_collector_tls_reloads_total counter\n",
                    "stallscope_collector_tls_reloads_total{result=\"ok\"} ", (*security)->reloads(), "\n",
                    "stallscope_collector_tls_reloads_total{result=\"error\"} ", (*security)->reload_errors(), "\n");
  });
  std::string http_host = options->http_listen.host.empty() ? "::" : options->http_listen.host;
  auto http_port = http.Start(http_host, options->http_listen.port);
  if (!http_port.ok() && !absl::IsAlreadyExists(http_port.status()) && options->http_listen.host.empty()) {
    http_host = "0.0.0.0";  // no IPv6
    http_port = http.Start(http_host, options->http_listen.port);
  }
  if (!http_port.ok()) {
    server->Shutdown();
    return Fail(absl::StrCat("--http-listen: ", http_port.status().message()),
                absl::IsAlreadyExists(http_port.status()) ? stallscope::net::kExitAddressInUse : 1);
  }
  (*security)->WatchFiles(std::chrono::seconds(2));
  fprintf(stderr, "stallscope-collector: agents -> grpc port %d, dashboard and API -> http%s port %d, store %s%s\n",
          grpc_port, (*security)->tls() ? "s" : "", *http_port,
          (*store)->postgres() ? "postgresql" : options->db.c_str(),
          (*security)->tls() ? ", TLS on both" : "");
  fflush(stderr);

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    absl::Status st = (*security)->Reload();
    fprintf(stderr, "stallscope-collector: SIGHUP: %s\n",
            st.ok() ? "reloaded the TLS and token files" : absl::StrCat(st.message(), " (keeping the old ones)").c_str());
  }
  fprintf(stderr, "stallscope-collector: stopping\n");
  http.Stop();
  // Streams get 2 s to finish their batch; what was acknowledged is stored already.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  ingestor.Stop();
  return 0;
}
