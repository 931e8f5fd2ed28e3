// Test helper: runs a Python script (written to a fresh temp dir) as a child process, reads the
// lines it prints to signal readiness, and kills it at the end (also if the test binary dies:
// PR_SET_PDEATHSIG).
#ifndef STALLSCOPE_TESTS_UNIT_PYTHON_LIVE_PYTHON_H_
#define STALLSCOPE_TESTS_UNIT_PYTHON_LIVE_PYTHON_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace stallscope::testing {

inline constexpr char kDebianPython[] = "/usr/bin/python3";
inline constexpr char kPyenvPython311[] = "/root/.pyenv/versions/3.11.7/bin/python3.11";

// The 1-based line of the script that carries the marker comment "# LINE:<name>", 0 if none.
inline int MarkedLine(const std::string& script, const std::string& name) {
  std::istringstream in(script);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    size_t at = line.find("# LINE:" + name);
    if (at != std::string::npos && line.size() == at + 7 + name.size()) return number;
  }
  return 0;
}

class LivePython {
 public:
  // Starts `python -u script.py args...` with the script written as `file_name` in a temp dir.
  static std::unique_ptr<LivePython> Start(const std::string& python, const std::string& source,
                                           const std::string& file_name,
                                           const std::vector<std::string>& args = {}) {
    auto live = std::unique_ptr<LivePython>(new LivePython());
    if (!live->MakeDir()) return nullptr;
    live->script_ = live->dir_ + "/" + file_name;
    std::ofstream(live->script_) << source;
    std::vector<std::string> argv = {python, "-u", live->script_};
    argv.insert(argv.end(), args.begin(), args.end());
    if (!live->Spawn(argv)) return nullptr;
    return live;
  }

  // Starts any program (argv[0] is its path).
  static std::unique_ptr<LivePython> StartCommand(const std::vector<std::string>& argv) {
    auto live = std::unique_ptr<LivePython>(new LivePython());
    if (!live->MakeDir() || !live->Spawn(argv)) return nullptr;
    return live;
  }

  ~LivePython() {
    Kill();
    if (stdout_fd_ >= 0) close(stdout_fd_);
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  // The next stdout line starting with `prefix` (earlier lines are skipped), nullopt on
  // timeout or end of output.
  std::optional<std::string> WaitForLine(
      const std::string& prefix, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t newline;
      while ((newline = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (line.rfind(prefix, 0) == 0) return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd pfd{.fd = stdout_fd_, .events = POLLIN, .revents = 0};
      if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // SIGKILL, and reap unless `reap` is false (leaving a zombie).
  void Kill(bool reap = true) {
    if (pid_ <= 0) return;
    if (!killed_) kill(pid_, SIGKILL);
    killed_ = true;
    if (reap) {
      waitpid(pid_, nullptr, 0);
      pid_ = 0;
    }
  }

  std::string Stderr() const {
    std::ifstream in(dir_ + "/stderr");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  pid_t pid() const { return pid_; }
  const std::string& script_path() const { return script_; }

 private:
  LivePython() = default;

  bool MakeDir() {
    char dir_template[] = "/tmp/stallscope-pytest-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return false;
    dir_ = dir_template;
    return true;
  }

  bool Spawn(std::vector<std::string> argv_strings) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return false;
    std::string stderr_path = dir_ + "/stderr";
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(out[1], STDOUT_FILENO);
      int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err >= 0) dup2(err, STDERR_FILENO);
      std::vector<char*> argv;
      for (std::string& s : argv_strings) argv.push_back(s.data());
      argv.push_back(nullptr);
      setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    pid_ = pid;
    stdout_fd_ = out[0];
    return true;
  }

  pid_t pid_ = 0;
  bool killed_ = false;
  int stdout_fd_ = -1;
  std::string dir_;
  std::string script_;
  std::string buffer_;
};

}  // namespace stallscope::testing

#endif  // STALLSCOPE_TESTS_UNIT_PYTHON_LIVE_PYTHON_H_
