#include "demo/demo_runner.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "attach/attach_runner.h"
#include "cli/attach_options.h"
#include "cli/exit_codes.h"
#include "output_file.h"

namespace stallscope {
namespace {

constexpr char kSampleApp[] =
#include "sample_app.inc"
    ;

constexpr char kDemoHelp[] = R"(Usage: stallscope demo [--port PORT] [--format text|json]

Starts the bundled sample app (/usr/bin/python3 with Tornado) on 127.0.0.1:PORT (default 8888),
attaches to it, sends requests that stall its event loop in three ways (sleep, CPU, slow
upstream) plus fast ones that must not be reported, and prints what stallscope saw.
)";

bool Connect(int port, int* fd_out) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    *fd_out = fd;
    return true;
  }
  close(fd);
  return false;
}

void Get(int port, const std::string& path) {
  int fd = -1;
  if (!Connect(port, &fd)) return;
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) < 0) {
    close(fd);
    return;
  }
  char buf[4096];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
  close(fd);
}

// A private directory for the app's script, removed with it at exit.
class DemoDir {
 public:
  DemoDir() = default;
  DemoDir(const DemoDir&) = delete;
  DemoDir& operator=(const DemoDir&) = delete;
  ~DemoDir() {
    if (path_.empty()) return;
    unlink(script_.c_str());
    rmdir(path_.c_str());
  }

  absl::Status Create() {
    char templ[] = "/tmp/stallscope-demo-XXXXXX";
    if (mkdtemp(templ) == nullptr)
      return absl::UnavailableError(absl::StrCat("cannot make a directory in /tmp: ", strerror(errno)));
    path_ = templ;
    script_ = path_ + "/app.py";
    return WriteOutputFile(script_, kSampleApp, {.exclusive = true});
  }
  const std::string& path() const { return path_; }
  const std::string& script() const { return script_; }

 private:
  std::string path_, script_;
};

// python3 -I: the script's directory, the working directory and the user's site stay off
// sys.path, PYTHON* variables are ignored; Debian's dist-packages (Tornado) stay on it.
pid_t StartApp(const DemoDir& dir, int port) {
  pid_t app = fork();
  if (app == 0) {
    std::string port_arg = std::to_string(port);
    if (chdir(dir.path().c_str()) != 0) _exit(127);
    // argv[0] absolute: Python finds its prefix (and Debian's dist-packages) from it, not from PATH.
    execl("/usr/bin/python3", "/usr/bin/python3", "-I", dir.script().c_str(), port_arg.c_str(), nullptr);
    perror("stallscope: demo: cannot run /usr/bin/python3");
    _exit(127);
  }
  return app;
}

}  // namespace

int RunDemo(const char*, const std::vector<std::string>& args) {
  int port = 8888;
  OutputFormat format = OutputFormat::kText;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      fputs(kDemoHelp, stdout);
      return kExitOk;
    } else if (args[i] == "--port" && i + 1 < args.size()) {
      port = atoi(args[++i].c_str());
    } else if (args[i] == "--format" && i + 1 < args.size()) {
      format = args[++i] == "json" ? OutputFormat::kJson : OutputFormat::kText;
    } else {
      fprintf(stderr, "stallscope: demo: unknown option '%s'\n%s", args[i].c_str(), kDemoHelp);
      return kExitUsage;
    }
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "stallscope: demo: --port must be 1-65535\n");
    return kExitUsage;
  }
  int probe_fd = -1;
  if (Connect(port, &probe_fd)) {
    close(probe_fd);
    fprintf(stderr, "stallscope: demo: port %d is in use; pick another with --port\n", port);
    return kExitUsage;
  }

  // The app runs as root: its script sits in a private directory (mkdtemp, 0700) that no other
  // user can plant anything in (docs/security.md, "The demo").
  DemoDir dir;
  if (absl::Status st = dir.Create(); !st.ok()) {
    fprintf(stderr, "stallscope: demo: %s\n", std::string(st.message()).c_str());
    return kExitOutput;
  }
  pid_t app = StartApp(dir, port);
  if (app < 0) {
    fprintf(stderr, "stallscope: demo: cannot start the sample app: %s\n", strerror(errno));
    return kExitInternal;
  }
  // Wait for the app to listen (Tornado imports take a moment).
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int status = 0;
    if (waitpid(app, &status, WNOHANG) == app) break;
    int fd = -1;
    if (Connect(port, &fd)) {
      close(fd);
      up = true;
    }
  }
  if (!up) {
    kill(app, SIGKILL);
    waitpid(app, nullptr, 0);
    fprintf(stderr,
            "stallscope: demo: the sample app did not start (needs /usr/bin/python3 with Tornado: "
            "apt-get install python3-tornado)\n");
    return kExitInternal;
  }

  std::thread client([port] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // let the agent attach
    for (const char* path : {"/fast", "/sleep?ms=300", "/fast", "/cpu?ms=250", "/upstream?ms=400",
                             "/fast", "/sleep?ms=1500"}) {
      Get(port, path);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  AttachOptions options;
  options.pids = {app};
  options.duration_seconds = 7.5;
  options.format = format;
  int rc = RunAttach(options);
  client.join();
  kill(app, SIGTERM);
  waitpid(app, nullptr, 0);
  return rc;
}

}  // namespace stallscope
