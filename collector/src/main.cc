// stallscope-collector: receives agents' report streams, stores them (SQLite or PostgreSQL),
// and serves the query API, the dashboard and /metrics.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector_options.h"
#include "collector_service.h"
#include "http_api.h"
#include "ingestor.h"
#include "listen_check.h"
#include "metrics.h"
#include "store.h"

namespace {

using namespace stallscope::collector;

int Fail(const std::string& message, int code) {
  fprintf(stderr, "stallscope-collector: %s\n", message.c_str());
  return code;
}

std::string GrpcAddress(const HostPort& hp) {
  std::string host = hp.host.empty() ? "[::]" : hp.host.find(':') != std::string::npos ? "[" + hp.host + "]" : hp.host;
  return absl::StrCat(host, ":", hp.port);
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
  // SIGINT/SIGTERM are taken synchronously below, by a thread that waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

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
  service_options.identity_timeout = options->identity_timeout;
  CollectorService service(&ingestor, &metrics, service_options);
  // Refused up front in one line: gRPC would log several, and with SO_REUSEPORT (its default,
  // turned off below) two collectors would share the port silently.
  if (absl::Status free = stallscope::CheckPortFree(options->grpc_listen.host, options->grpc_listen.port); !free.ok())
    return Fail(absl::StrCat("--grpc-listen: ", free.message()),
                absl::IsAlreadyExists(free) ? stallscope::kExitAddressInUse : 1);
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int grpc_port = 0;
  builder.AddListeningPort(GrpcAddress(options->grpc_listen), grpc::InsecureServerCredentials(), &grpc_port);
  CollectorService::Configure(builder, options->max_message_bytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0)
    return Fail(absl::StrCat("cannot listen for agents on ", GrpcAddress(options->grpc_listen), " (in use?)"), 1);

  HttpApi http(store->get(), &metrics);
  std::string http_host = options->http_listen.host.empty() ? "::" : options->http_listen.host;
  auto http_port = http.Start(http_host, options->http_listen.port);
  if (!http_port.ok() && !absl::IsAlreadyExists(http_port.status()) && options->http_listen.host.empty()) {
    http_host = "0.0.0.0";  // no IPv6
    http_port = http.Start(http_host, options->http_listen.port);
  }
  if (!http_port.ok()) {
    server->Shutdown();
    return Fail(absl::StrCat("--http-listen: ", http_port.status().message()),
                absl::IsAlreadyExists(http_port.status()) ? stallscope::kExitAddressInUse : 1);
  }
  fprintf(stderr, "stallscope-collector: agents -> grpc port %d, dashboard and API -> http port %d, store %s\n",
          grpc_port, *http_port, (*store)->postgres() ? "postgresql" : options->db.c_str());
  fflush(stderr);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  fprintf(stderr, "stallscope-collector: stopping\n");
  http.Stop();
  // Streams get 2 s to finish their batch; what was acknowledged is stored already.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  ingestor.Stop();
  return 0;
}
