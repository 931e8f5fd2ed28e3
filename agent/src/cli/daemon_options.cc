#include "cli/daemon_options.h"

#include "absl/strings/str_cat.h"

namespace stallscope {

const char kDaemonHelp[] = R"(Usage: stallscope daemon [--config FILE] [--collector HOST:PORT] [options]

Watches the whole host: tracks every Python web server the selectors pick (by default
gunicorn, uWSGI, and Python processes running Tornado, aiohttp or CherryPy), picks up new
ones as they start and drops exited ones, and streams the same reports as `attach`, each
with the process's container, Kubernetes pod and service, to the collector.

Options:
  --config FILE            key = value file (README.md, "Running on every node");
                           re-read on SIGHUP (a bad file keeps the old config)
  --collector HOST:PORT    stream reports to a stallscope-collector
  --collector-ca FILE      verify the collector's certificate with this CA: TLS on
  --tls-cert FILE          client certificate for the collector (mTLS), with --tls-key FILE
  --collector-token-file FILE
                           send this token (a bare token, or the first 'NAME TOKEN' line)
                           as 'authorization: Bearer'; needs --collector-ca (TLS) unless
                           --insecure. Token and key files must be owned by root or this
                           user and not readable or writable by others (exit 10)
  --insecure               send the collector token even without TLS (in the clear)
  --listen ADDR            /healthz, /readyz, /metrics (default 127.0.0.1:7702; "off" = none);
                           another address than loopback needs --listen-token-file
  --listen-token-file FILE 'NAME TOKEN' lines: /metrics needs one of them (as Bearer or the
                           basic-auth password); /healthz and /readyz need none, tell nothing
  --listen-insecure        serve /metrics off loopback without a token (not recommended)
  --output FILE            write events to FILE instead of stdout ("-": stdout); created
                           0600, never through a symlink or into another user's file
  --format text|json       text: one log line per event, a startup line and a heartbeat
                           a minute (default on stdout); json: one stallscope.v1.Report per
                           line (default with --output FILE)
  --check-config           only check the config file (and flags): exit 0, or 7 with the error
  --verbose                show libbpf's messages, and each Python process discovery leaves
                           alone with why (no listening socket, or not picked by the selectors)
  -h, --help               this help

SIGTERM/SIGINT: stop, flushing every report to the collector (waits up to 1 s for its
acks; exits within 2 s). SIGHUP: reload.
Exit codes: 0 ok, 1 internal error, 2 usage, 4 insufficient privileges, 5 kernel cannot run
the probes, 6 cannot write the output (refused name, disk full), 7 bad config file or
unusable --listen address (a non-loopback one without --listen-token-file), 9 the --listen
port is already in use.
)";

absl::StatusOr<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args) {
  DaemonOptions opts;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::optional<std::string>* out) -> absl::Status {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(a, " needs a value"));
      *out = args[++i];
      return absl::OkStatus();
    };
    absl::Status st;
    if (a == "-h" || a == "--help") opts.help = true;
    else if (a == "--verbose") opts.verbose = true;
    else if (a == "--insecure") opts.insecure = true;
    else if (a == "--listen-insecure") opts.listen_insecure = true;
    else if (a == "--check-config") opts.check_config = true;
    else if (a == "--config") {
      std::optional<std::string> path;
      st = value(&path);
      if (path) opts.config_path = *path;
    } else if (a == "--collector") st = value(&opts.collector);
    else if (a == "--listen") st = value(&opts.listen);
    else if (a == "--collector-ca") st = value(&opts.collector_ca);
    else if (a == "--tls-cert") st = value(&opts.tls_cert);
    else if (a == "--tls-key") st = value(&opts.tls_key);
    else if (a == "--collector-token-file") st = value(&opts.collector_token_file);
    else if (a == "--listen-token-file") st = value(&opts.listen_token_file);
    else if (a == "--output") st = value(&opts.output);
    else if (a == "--format") {
      st = value(&opts.format);
      if (st.ok() && *opts.format != "json" && *opts.format != "text")
        return absl::InvalidArgumentError(absl::StrCat("--format: '", *opts.format, "' is not json or text"));
    } else return absl::InvalidArgumentError(absl::StrCat("unknown flag '", a, "' (see stallscope daemon --help)"));
    if (!st.ok()) return st;
  }
  return opts;
}

}  // namespace stallscope
