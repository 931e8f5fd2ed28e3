// stallscope: which event loop blocked, for how long, on what; from the kernel, without
// touching the target's code.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attach/attach_runner.h"
#include "cli/attach_options.h"
#include "cli/daemon_options.h"
#include "cli/exit_codes.h"
#include "daemon/daemon_runner.h"
#include "demo/demo_runner.h"

namespace {

constexpr char kUsage[] = R"(Usage: stallscope <command> [options]

Commands:
  attach --pid PID ...   attach to running processes and report event-loop stalls
  daemon                 watch every Python web server on the host (Kubernetes DaemonSet)
                         and stream their stalls, with container and pod, to a collector
  demo                   start a bundled sample server that stalls, attach to it, and show
                         the reports (needs python3 with tornado, as on Debian: python3-tornado)
  version                print the version

Run 'stallscope <command> --help' for the command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    fputs(kUsage, stderr);
    return stallscope::kExitUsage;
  }
  const std::string command = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "-h" || command == "--help" || command == "help") {
    fputs(kUsage, stdout);
    return stallscope::kExitOk;
  }
  if (command == "version" || command == "--version") {
    printf("stallscope %s\n", STALLSCOPE_VERSION);
    return stallscope::kExitOk;
  }
  if (command == "attach") {
    auto options = stallscope::ParseAttachOptions(rest);
    if (!options.ok()) {
      fprintf(stderr, "stallscope: %s\n", std::string(options.status().message()).c_str());
      return stallscope::kExitUsage;
    }
    if (options->help) {
      fputs(stallscope::kAttachHelp, stdout);
      return stallscope::kExitOk;
    }
    return stallscope::RunAttach(*options);
  }
  if (command == "daemon") {
    auto options = stallscope::ParseDaemonOptions(rest);
    if (!options.ok()) {
      fprintf(stderr, "stallscope: %s\n", std::string(options.status().message()).c_str());
      return stallscope::kExitUsage;
    }
    if (options->help) {
      fputs(stallscope::kDaemonHelp, stdout);
      return stallscope::kExitOk;
    }
    return stallscope::RunDaemon(*options);
  }
  if (command == "demo") return stallscope::RunDemo(argv[0], rest);
  fprintf(stderr, "stallscope: unknown command '%s'\n%s", command.c_str(), kUsage);
  return stallscope::kExitUsage;
}
