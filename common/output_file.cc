#include "output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stallscope {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

absl::Status Refused(const std::string& path, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("cannot write ", path, ": ", why));
}

absl::Status Failed(const std::string& path, int err) {
  return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", strerror(err)));
}

// Names the directory and the last component; "" when PATH cannot name a file.
bool SplitPath(const std::string& path, std::string* dir, std::string* name) {
  size_t slash = path.rfind('/');
  *dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  *name = slash == std::string::npos ? path : path.substr(slash + 1);
  return !name->empty() && *name != "." && *name != "..";
}

std::deque<std::string> Components(absl::string_view path) {
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  return std::deque<std::string>(parts.begin(), parts.end());
}

// Opens DIR one component at a time (O_PATH | O_NOFOLLOW), so every symlink on the way is seen
// on its own fd: one another user owns in a directory every user may write is refused
// (fs.protected_symlinks' rule, whatever the sysctl says); the others (/var/run -> /run) are
// followed.
absl::StatusOr<int> OpenDirectory(const std::string& dir, const std::string& path) {
  Fd cur(open(dir[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (cur.get() < 0) return Failed(path, errno);
  std::deque<std::string> todo = Components(dir);
  for (int hops = 0; !todo.empty();) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    Fd next(openat(cur.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {}, in {};
    if (next.get() < 0 || fstat(next.get(), &st) != 0) return Failed(path, errno);
    if (S_ISDIR(st.st_mode)) {
      cur.reset(next.release());
      continue;
    }
    if (!S_ISLNK(st.st_mode)) return Failed(path, ENOTDIR);
    if (++hops > 40) return Failed(path, ELOOP);
    if (fstat(cur.get(), &in) != 0) return Failed(path, errno);
    if ((in.st_mode & S_IWOTH) && st.st_uid != geteuid() && st.st_uid != in.st_uid)
      return Refused(path, absl::StrCat("the symlink ", name, " on the way belongs to uid ", st.st_uid,
                                        ", in a directory every user may write"));
    char target[PATH_MAX];
    ssize_t n = readlinkat(next.get(), "", target, sizeof(target));  // this very link
    if (n <= 0 || n == sizeof(target)) return Failed(path, n < 0 ? errno : ENAMETOOLONG);
    std::deque<std::string> more = Components(absl::string_view(target, n));
    todo.insert(todo.begin(), more.begin(), more.end());
    if (target[0] == '/') cur.reset(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  return cur.release();
}

// Who may change the names in the directory decides whether a name there can be trusted.
absl::Status CheckDirectory(const struct stat& dir, const std::string& dir_name, const std::string& path,
                            const OutputFileOptions& options) {
  bool others_write = (dir.st_mode & S_IWOTH) != 0;
  bool sticky = (dir.st_mode & S_ISVTX) != 0;
  if (others_write && !sticky)
    return Refused(path, absl::StrCat("its directory ", dir_name,
                                      " is writable by every user and not sticky (anyone could swap the file)"));
  if (options.private_directory && others_write)
    return Refused(path, absl::StrCat("its directory ", dir_name, " is writable by every user"));
  return absl::OkStatus();
}

// An existing name: only a file this user (or the directory's owner) made, never a link to
// something else.
absl::Status CheckExisting(const struct stat& file, const struct stat& dir, const std::string& path) {
  if (S_ISLNK(file.st_mode)) return Refused(path, "it is a symbolic link (name the file itself)");
  if (!S_ISREG(file.st_mode) && !S_ISFIFO(file.st_mode) && !S_ISCHR(file.st_mode))
    return Refused(path, "it is not a regular file");
  if (file.st_uid != geteuid() && file.st_uid != dir.st_uid)
    return Refused(path, absl::StrCat("it exists and belongs to uid ", file.st_uid,
                                      ", neither this user nor the directory's owner"));
  // Another name of the same inode could be a file that must not be touched.
  if (S_ISREG(file.st_mode) && file.st_nlink > 1)
    return Refused(path, absl::StrCat("it has ", file.st_nlink, " hard links"));
  return absl::OkStatus();
}

// Opens the existing NAME, the same inode that passed the checks.
absl::StatusOr<int> OpenExisting(int dir_fd, const std::string& name, const struct stat& dir,
                                 const std::string& path, const OutputFileOptions& options) {
  // O_PATH opens nothing: no FIFO wait, no device side effect before the checks.
  Fd probe(openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (probe.get() < 0) return Failed(path, errno);
  struct stat before {};
  if (fstat(probe.get(), &before) != 0) return Failed(path, errno);
  if (absl::Status st = CheckExisting(before, dir, path); !st.ok()) return st;
  // O_NONBLOCK: a FIFO without a reader fails (ENXIO) rather than waiting for ever.
  Fd fd(openat(dir_fd, name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENXIO) return Refused(path, "it is a FIFO that no one reads");
    if (errno == ELOOP) return Refused(path, "it is a symbolic link (name the file itself)");
    return Failed(path, errno);
  }
  struct stat after {};
  if (fstat(fd.get(), &after) != 0) return Failed(path, errno);
  if (after.st_dev != before.st_dev || after.st_ino != before.st_ino)
    return Refused(path, "it was replaced while being opened");
  if (S_ISREG(after.st_mode) && options.truncate && ftruncate(fd.get(), 0) != 0) return Failed(path, errno);
  return fd.release();
}

}  // namespace

absl::StatusOr<int> OpenOutputFile(const std::string& path, const OutputFileOptions& options) {
  std::string dir_name, name;
  if (!SplitPath(path, &dir_name, &name)) return Refused(path, "it does not name a file");
  absl::StatusOr<int> opened_dir = OpenDirectory(dir_name, path);
  if (!opened_dir.ok()) return opened_dir.status();
  Fd dir_fd(*opened_dir);
  struct stat dir {};
  if (fstat(dir_fd.get(), &dir) != 0) return Failed(path, errno);
  if (absl::Status st = CheckDirectory(dir, dir_name, path, options); !st.ok()) return st;

  int fd = openat(dir_fd.get(), name.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, options.mode);
  if (fd < 0 && errno == EEXIST && !options.exclusive) {
    absl::StatusOr<int> existing = OpenExisting(dir_fd.get(), name, dir, path, options);
    if (!existing.ok()) return existing.status();
    fd = *existing;
  } else if (fd < 0) {
    if (errno == EEXIST) return Refused(path, "it already exists");
    return Failed(path, errno);
  }
  // Back to blocking writes (a FIFO was opened O_NONBLOCK).
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    int err = errno;
    close(fd);
    return Failed(path, err);
  }
  return fd;
}

absl::StatusOr<FILE*> OpenOutputStream(const std::string& path, const OutputFileOptions& options) {
  absl::StatusOr<int> fd = OpenOutputFile(path, options);
  if (!fd.ok()) return fd.status();
  FILE* stream = fdopen(*fd, "w");
  if (stream == nullptr) {
    int err = errno;
    close(*fd);
    return Failed(path, err);
  }
  return stream;
}

absl::Status CloseOutputStream(FILE* stream, const std::string& path) {
  if (stream == nullptr) return absl::OkStatus();
  bool earlier = ferror(stream) != 0;
  int err = 0;
  if (fflush(stream) != 0) err = errno;
  if (fclose(stream) != 0 && err == 0) err = errno;
  if (err != 0) return Failed(path, err);
  // stdio keeps no errno for a failed write it already reported: say what it could be.
  if (earlier) return absl::UnavailableError(absl::StrCat("cannot write ", path, ": a write failed (disk full?)"));
  return absl::OkStatus();
}

absl::Status WriteOutputFile(const std::string& path, absl::string_view data, const OutputFileOptions& options) {
  absl::StatusOr<int> opened = OpenOutputFile(path, options);
  if (!opened.ok()) return opened.status();
  Fd fd(*opened);
  while (!data.empty()) {
    ssize_t n = write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Failed(path, n < 0 ? errno : EIO);
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (close(fd.release()) != 0) return Failed(path, errno);
  return absl::OkStatus();
}

}  // namespace stallscope
