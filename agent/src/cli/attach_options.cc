#include "cli/attach_options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stallscope {

const char kAttachHelp[] = R"(Usage: stallscope attach --pid PID [--pid PID ...] [options]

Attaches to running processes and their descendants (workers forked later included) and
reports every event-loop stall: which loop blocked, for how long, split into on-CPU, blocked
and run-queue time, on which syscalls and fds, with the native stack. Also reports worker
pools (thread pools, prefork workers) that saturate, their utilization, accept-queue waits
and every TCP connection's lifetime.
Runs until --duration passes, SIGINT/SIGTERM arrives, or every tracked process has exited;
then flushes all reports, prints a summary (text) or agent counters (json), and exits 0.

Options:
  --pid PID                 process to attach to (repeatable; also --pid 1,2,3)
  --duration SECONDS        stop after this long (default: until interrupted)
  --block-threshold-ms MS   a loop busy for at least this long is a stall (default 100)
  --saturation-threshold-ms MS
                            a worker pool with every member busy this long is reported
                            as saturated (default 100)
  --utilization-interval SECONDS
                            report each pool's utilization this often (default 10)
  --sockets                 a SocketLifetime report for every TCP connection (json and
                            the collector get them; text prints them). Off by default: a
                            busy server closes thousands of connections a second. Without
                            it, text still sums them up per remote endpoint at exit
  --format text|json        text for people (default); json = one stallscope.v1.Report
                            per line (proto3 JSON mapping)
  --output FILE             write reports to FILE instead of stdout (lines are flushed as
                            written, so the file can be tailed). Created 0600; a symlink,
                            another user's file or a world-writable directory without
                            the sticky bit is refused (exit 6)
  --max-threads N           threads tracked in the kernel at once (default 4096)
  --max-processes N         processes tracked in the kernel at once (default 4096)
  --collector HOST:PORT     also stream every report to a stallscope-collector; survives
                            collector restarts (reconnects, resends what was not
                            acknowledged)
  --collector-buffer N      reports kept in memory while the collector is unreachable
                            (default 100000); beyond it the oldest are dropped and counted
  --collector-ca FILE       verify the collector's certificate with this CA (PEM): TLS on
  --tls-cert FILE           client certificate (PEM) for the collector (mTLS); with
  --tls-key FILE            its key. Both are re-read when the agent reconnects
  --collector-token-file FILE
                            send this token as 'authorization: Bearer' (a bare token, or
                            the first 'NAME TOKEN' line). A collector refusing the agent is
                            shown once on stderr and counted (collectorAuthFailures);
                            reports stay buffered. Needs --collector-ca (TLS) unless
                            --insecure. Token and key files must be owned by root or
                            this user and not readable or writable by others (exit 10)
  --insecure                send the token even without TLS (in the clear)
  --service NAME            service name the collector groups reports by
                            (default: $STALLSCOPE_SERVICE)
  --flamegraph FILE.svg     at exit, write a flame graph of stalled time by stack (Python
                            and native frames) to FILE.svg; it opens in any browser
  --syscall-hooks auto|sched|tracepoints|raw
                            how the waits that bound busy periods are seen:
                            sched = no syscall hook at all, so processes stallscope
                            does not track pay nothing on their syscalls: waits are
                            seen where they sleep (sched_switch), and a loop busy
                            with waits that never sleep gets uprobes on its libc wait
                            functions, in that process only, until their first hit
                            (needs Linux 5.15+ and uprobes);
                            tracepoints = the waits' own syscalls:* tracepoints
                            (every process's waits run a program; needs tracefs,
                            mounted when missing); raw = every syscall of every
                            process through raw_syscalls (costliest, needs no
                            tracefs); auto (default) = sched where the kernel allows
                            it (5.15+ with uprobe-multi links, 6.6+), else
                            tracepoints, else raw. The startup line and
                            agentStats.wait_hooks say which was chosen
  --verbose                 show libbpf's messages
  -h, --help                this help

Needs root (or CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE) and a kernel with BTF.
Exit codes: 0 ok, 1 internal error, 2 usage, 3 no such process, 4 insufficient privileges,
5 kernel cannot run the probes, 6 cannot write the output or the flame graph (refused name,
missing directory, disk full), 8 the process is a zombie or
exited before the probes were attached.
)";

namespace {

absl::Status AddPids(const std::string& value, std::vector<pid_t>& pids) {
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    int pid = 0;
    if (!absl::SimpleAtoi(part, &pid) || pid <= 0)
      return absl::InvalidArgumentError(absl::StrCat("--pid: '", part, "' is not a process id"));
    pids.push_back(pid);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AttachOptions> ParseAttachOptions(const std::vector<std::string>& args) {
  AttachOptions opts;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_inline_value = false;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_inline_value = true;
    }
    auto next_value = [&]() -> absl::StatusOr<std::string> {
      if (has_inline_value) return value;
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(flag + " needs a value");
      return args[++i];
    };
    auto need = [&](auto parse) -> absl::Status {
      absl::StatusOr<std::string> v = next_value();
      if (!v.ok()) return v.status();
      return parse(*v);
    };
    absl::Status st;
    if (flag == "-h" || flag == "--help") {
      opts.help = true;
    } else if (flag == "--insecure") {
      opts.insecure = true;
    } else if (flag == "--flamegraph") {
      st = need([&](const std::string& v) {
        if (v.empty()) return absl::InvalidArgumentError("--flamegraph needs a file name");
        opts.flamegraph_path = v;
        return absl::OkStatus();
      });
    } else if (flag == "--syscall-hooks") {
      st = need([&](const std::string& v) {
        if (v != "auto" && v != "sched" && v != "tracepoints" && v != "raw")
          return absl::InvalidArgumentError("--syscall-hooks: '" + v +
                                            "' is not auto, sched, tracepoints or raw");
        opts.syscall_hooks = v;
        return absl::OkStatus();
      });
    } else if (flag == "--sockets") {
      opts.sockets = true;
    } else if (flag == "--saturation-threshold-ms") {
      st = need([&](const std::string& v) {
        if (!absl::SimpleAtoi(v, &opts.saturation_threshold_ms) || opts.saturation_threshold_ms == 0)
          return absl::InvalidArgumentError("--saturation-threshold-ms: '" + v + "' is not a positive whole number");
        return absl::OkStatus();
      });
    } else if (flag == "--utilization-interval") {
      st = need([&](const std::string& v) {
        double d = 0;
        if (!absl::SimpleAtod(v, &d) || !(d >= 0.1) || d > 86400)
          return absl::InvalidArgumentError("--utilization-interval: '" + v + "' is not a number of seconds from 0.1 to 86400");
        opts.utilization_interval_seconds = d;
        return absl::OkStatus();
      });
    } else if (flag == "--verbose" || flag == "-v") {
      opts.verbose = true;
    } else if (flag == "--pid" || flag == "-p") {
      st = need([&](const std::string& v) { return AddPids(v, opts.pids); });
    } else if (flag == "--duration") {
      st = need([&](const std::string& v) {
        double d = 0;
        if (!absl::SimpleAtod(v, &d) || !(d > 0))
          return absl::InvalidArgumentError("--duration: '" + v + "' is not a positive number of seconds");
        opts.duration_seconds = d;
        return absl::OkStatus();
      });
    } else if (flag == "--block-threshold-ms") {
      st = need([&](const std::string& v) {
        if (!absl::SimpleAtoi(v, &opts.block_threshold_ms) || opts.block_threshold_ms == 0)
          return absl::InvalidArgumentError("--block-threshold-ms: '" + v + "' is not a positive whole number");
        return absl::OkStatus();
      });
    } else if (flag == "--format") {
      st = need([&](const std::string& v) {
        if (v == "text") opts.format = OutputFormat::kText;
        else if (v == "json") opts.format = OutputFormat::kJson;
        else return absl::InvalidArgumentError("--format: '" + v + "' is not text or json");
        return absl::OkStatus();
      });
    } else if (flag == "--output" || flag == "-o") {
      st = need([&](const std::string& v) {
        if (v.empty()) return absl::InvalidArgumentError("--output needs a file name");
        opts.output_path = v;
        return absl::OkStatus();
      });
    } else if (flag == "--max-threads" || flag == "--max-processes") {
      uint32_t& dest = flag == "--max-threads" ? opts.max_threads : opts.max_processes;
      st = need([&](const std::string& v) {
        if (!absl::SimpleAtoi(v, &dest) || dest < 16 || dest > (1u << 20))
          return absl::InvalidArgumentError(flag + ": '" + v + "' is not a number from 16 to 1048576");
        return absl::OkStatus();
      });
    } else if (flag == "--collector") {
      st = need([&](const std::string& v) {
        auto colon = v.rfind(':');
        int port = 0;
        if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(v.substr(colon + 1), &port) || port <= 0 ||
            port > 65535)
          return absl::InvalidArgumentError("--collector: '" + v + "' is not HOST:PORT");
        opts.collector = v;
        return absl::OkStatus();
      });
    } else if (flag == "--collector-buffer") {
      st = need([&](const std::string& v) {
        if (!absl::SimpleAtoi(v, &opts.collector_buffer) || opts.collector_buffer < 1 ||
            opts.collector_buffer > 100'000'000)
          return absl::InvalidArgumentError("--collector-buffer: '" + v + "' is not a number from 1 to 100000000");
        return absl::OkStatus();
      });
    } else if (flag == "--collector-ca" || flag == "--tls-cert" || flag == "--tls-key" ||
               flag == "--collector-token-file") {
      std::string& dest = flag == "--collector-ca" ? opts.collector_ca
                          : flag == "--tls-cert"   ? opts.tls_cert
                          : flag == "--tls-key"    ? opts.tls_key
                                                   : opts.collector_token_file;
      st = need([&](const std::string& v) {
        if (v.empty()) return absl::InvalidArgumentError(flag + " needs a file name");
        dest = v;
        return absl::OkStatus();
      });
    } else if (flag == "--service") {
      st = need([&](const std::string& v) {
        if (v.empty() || v.size() > 256) return absl::InvalidArgumentError("--service needs a name (up to 256 bytes)");
        opts.service = v;
        return absl::OkStatus();
      });
    } else {
      st = absl::InvalidArgumentError("unknown option '" + args[i] + "' (see stallscope attach --help)");
    }
    if (!st.ok()) return st;
  }
  if (!opts.help && opts.pids.empty())
    return absl::InvalidArgumentError("attach needs at least one --pid (see stallscope attach --help)");
  return opts;
}

}  // namespace stallscope
