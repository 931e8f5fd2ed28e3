// Helpers shared by the fuzz targets: a scratch directory standing in for /proc (readers that
// take a proc_root read the fuzz input from real files, the way they read a target's), and an
// in-memory file for readers that take an fd.
#ifndef STALLSCOPE_FUZZ_FUZZ_SUPPORT_H_
#define STALLSCOPE_FUZZ_FUZZ_SUPPORT_H_

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace stallscope::fuzz {

// Inputs that hold several files are the files joined by this line; corpora are made from real
// files the same way (fuzz/corpus/README.md).
inline constexpr std::string_view kFileSeparator = "\n----\n";

// The `count` files of an input; missing ones are empty.
inline std::vector<std::string_view> SplitFiles(const uint8_t* data, size_t size, size_t count) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> files;
  while (files.size() + 1 < count) {
    size_t at = rest.find(kFileSeparator);
    if (at == std::string_view::npos) break;
    files.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kFileSeparator.size());
  }
  files.push_back(rest);
  files.resize(count);
  return files;
}

// A directory removed at exit; files are rewritten on every input. In /dev/shm when there is
// one: rewriting a file on ext4 (/tmp) flushes it on close (auto_da_alloc), 100x slower.
class ScratchTree {
 public:
  ScratchTree() {
    const char* tmp = getenv("TMPDIR");
    std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp && *tmp ? tmp : "/tmp";
    std::string pattern = dir + "/stallscope-fuzz-XXXXXX";
    root_ = mkdtemp(pattern.data()) ? pattern : "";
    if (root_.empty()) abort();
  }
  ~ScratchTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::string& root() const { return root_; }

  // Writes `contents` to root/relative, creating parent directories.
  void Write(const std::string& relative, std::string_view contents) const {
    std::filesystem::path path = std::filesystem::path(root_) / relative;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    FILE* f = fopen(path.c_str(), "wb");
    if (!f) abort();
    if (!contents.empty()) fwrite(contents.data(), 1, contents.size(), f);
    fclose(f);
  }

  // Makes root/relative a symlink whose text is `target` up to its first NUL and within
  // PATH_MAX (what a symlink can hold); an empty text leaves no link.
  void Symlink(const std::string& relative, std::string_view target) const {
    std::filesystem::path path = std::filesystem::path(root_) / relative;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    std::filesystem::remove(path, ec);
    std::string text(target.substr(0, std::min(target.find('\0'), size_t{4095})));
    if (!text.empty() && symlink(text.c_str(), path.c_str()) != 0) abort();
  }

 private:
  std::string root_;
};

// An anonymous file (memfd) holding `bytes`, for readers of an fd (ELF).
class MemFile {
 public:
  explicit MemFile(std::string_view bytes) : fd_(memfd_create("stallscope-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) abort();
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = write(fd_, bytes.data() + done, bytes.size() - done);
      if (n <= 0) abort();
      done += static_cast<size_t>(n);
    }
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace stallscope::fuzz

#endif  // STALLSCOPE_FUZZ_FUZZ_SUPPORT_H_
