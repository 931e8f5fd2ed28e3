#include "collector_options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stallscope::collector {

const char kCollectorHelp[] = R"(Usage: stallscope-collector [options]

Receives reports from stallscope agents (stallscope attach --collector HOST:PORT), stores
them, and serves a query API, a dashboard and Prometheus metrics.

Options:
  --grpc-listen ADDR        agent streams (gRPC), HOST:PORT or :PORT for every address
                            (default 127.0.0.1:7700)
  --http-listen ADDR        dashboard at /, API at /api/v1/, /metrics (default 127.0.0.1:7701)
  --db PATH|URL             SQLite file (default stallscope.db), or postgresql://... to
                            share one store between replicas
  --retention DURATION      keep reports this long (default 168h = 7 days), e.g. 72h, 30m
  --max-message-bytes N     largest agent message accepted (default 4194304)
  --max-streams N           agent streams at once (default 4096)
  --max-streams-per-principal N
                            agent streams at once from one principal (default 1024)
  --identity-timeout DUR    close streams that send no identity by then (default 10s)
  --tls-cert FILE           serve gRPC and HTTP over TLS with this PEM certificate (chain)
  --tls-key FILE            ... and this PEM key; both are re-read on SIGHUP and when they
                            change (cert-manager rotation)
  --client-ca FILE          agents may present a client certificate from this CA (mTLS);
                            their principal is its CN (else its first DNS name)
  --token-file FILE         'NAME TOKEN [ROLES]' lines: an agent sending 'authorization:
                            Bearer TOKEN' is principal NAME. ROLES: ingest (the default:
                            send reports, read nothing), read (the HTTP API, dashboard and
                            /metrics, as Bearer or the basic-auth password; /healthz needs
                            none) or ingest,read. Re-read on SIGHUP and when it changes.
                            Token and key files must be owned by root or this user and
                            readable and writable by no other user (else exit 10; a reload
                            then keeps the old ones)
  --insecure                allow a non-loopback address without TLS and authentication
  -h, --help                this help

Without --client-ca and --token-file every agent is accepted (one anonymous principal); a
non-loopback listen address then is refused unless --insecure. An agent_id belongs to the
principal that first used it: another principal's stream claiming it is refused
(PERMISSION_DENIED). Reports dated outside [now - retention, now + 10 min] are not stored
(counted in stallscope_collector_reports_refused_total).
Port 0 picks a free port; the ports in use are printed on stderr at start.
Exit codes: 0 stopped by SIGINT/SIGTERM, 1 cannot start (store, listener, TLS files),
2 usage (including a refused listen address), 9 a listen port already in use (another
collector or daemon there), 10 a token, key or certificate file others can write (or, for
tokens and keys, read), or not owned by root or this user.
)";

absl::StatusOr<HostPort> ParseHostPort(const std::string& value) {
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("'", value, "' is not HOST:PORT"));
  HostPort hp;
  hp.host = value.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') hp.host = hp.host.substr(1, hp.host.size() - 2);
  if (!absl::SimpleAtoi(value.substr(colon + 1), &hp.port) || hp.port < 0 || hp.port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("'", value, "' has no valid port"));
  return hp;
}

absl::StatusOr<CollectorOptions> ParseCollectorOptions(const std::vector<std::string>& args) {
  CollectorOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i], value;
    bool inline_value = false;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    if (flag == "-h" || flag == "--help") {
      o.help = true;
      continue;
    }
    if (flag == "--insecure") {
      o.insecure = true;
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
      value = args[++i];
    }
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", value, "' ", why));
    };
    if (flag == "--grpc-listen" || flag == "--http-listen") {
      auto hp = ParseHostPort(value);
      if (!hp.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", hp.status().message()));
      (flag == "--grpc-listen" ? o.grpc_listen : o.http_listen) = *hp;
    } else if (flag == "--db") {
      if (value.empty()) return bad("is empty");
      o.db = value;
    } else if (flag == "--retention") {
      if (!absl::ParseDuration(value, &o.retention) || o.retention <= absl::ZeroDuration())
        return bad("is not a positive duration like 168h");
    } else if (flag == "--max-message-bytes") {
      if (!absl::SimpleAtoi(value, &o.max_message_bytes) || o.max_message_bytes < 1024) return bad("is not a size >= 1024");
    } else if (flag == "--max-streams") {
      if (!absl::SimpleAtoi(value, &o.max_streams) || o.max_streams < 1) return bad("is not a positive number");
    } else if (flag == "--max-streams-per-principal") {
      if (!absl::SimpleAtoi(value, &o.max_streams_per_principal) || o.max_streams_per_principal < 1)
        return bad("is not a positive number");
    } else if (flag == "--tls-cert" || flag == "--tls-key" || flag == "--client-ca" || flag == "--token-file") {
      if (value.empty()) return bad("is empty");
      (flag == "--tls-cert" ? o.tls_cert : flag == "--tls-key" ? o.tls_key : flag == "--client-ca" ? o.client_ca : o.token_file) = value;
    } else if (flag == "--identity-timeout") {
      if (!absl::ParseDuration(value, &o.identity_timeout) || o.identity_timeout <= absl::ZeroDuration())
        return bad("is not a positive duration");
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", args[i], "' (see --help)"));
    }
  }
  return o;
}

}  // namespace stallscope::collector
