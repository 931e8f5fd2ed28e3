#include "credential_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stallscope::net {
namespace {

bool OwnedByUs(uid_t uid) { return uid == 0 || uid == geteuid(); }

std::string Describe(const std::string& path, const struct stat& st) {
  return absl::StrFormat("%s (owner uid %d, group %d, mode %04o)", path, st.st_uid, st.st_gid, st.st_mode & 07777);
}

// The owner and mode rules on the opened file.
absl::Status CheckOpened(const std::string& path, const char* flag, Credential kind, const struct stat& st) {
  if (!S_ISREG(st.st_mode))
    return absl::PermissionDeniedError(absl::StrCat(flag, " ", path, ": not a regular file"));
  if (!OwnedByUs(st.st_uid))
    return absl::PermissionDeniedError(absl::StrCat(flag, " ", Describe(path, st),
                                                    ": must be owned by root or by this user (uid ", geteuid(), ")"));
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return absl::PermissionDeniedError(
        absl::StrCat(flag, " ", Describe(path, st), ": writable by other users; chmod go-w"));
  bool group_is_ours = st.st_gid == getegid();
  if (kind == Credential::kSecret && ((st.st_mode & S_IROTH) || ((st.st_mode & S_IRGRP) && !group_is_ours)))
    return absl::PermissionDeniedError(
        absl::StrCat(flag, " ", Describe(path, st), ": readable by other users; chmod 0600 (or 0440 for its group)"));
  return absl::OkStatus();
}

// Follows the last component while it is a symlink owned by root or us.
absl::StatusOr<std::string> ResolveTrustedLinks(const std::string& path, const char* flag) {
  std::string p = path;
  for (int hop = 0; hop < 8; ++hop) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0)
      return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", p, ": ", strerror(errno)));
    if (!S_ISLNK(st.st_mode)) return p;
    if (!OwnedByUs(st.st_uid))
      return absl::PermissionDeniedError(absl::StrCat(flag, " ", p, ": a symlink owned by uid ", st.st_uid,
                                                      ", not by root or this user"));
    char target[4096];
    ssize_t n = readlink(p.c_str(), target, sizeof(target) - 1);
    if (n <= 0) return absl::NotFoundError(absl::StrCat(flag, ": cannot read the link ", p));
    std::string t(target, static_cast<size_t>(n));
    size_t slash = p.rfind('/');
    p = t.front() == '/' || slash == std::string::npos ? t : p.substr(0, slash + 1) + t;
  }
  return absl::PermissionDeniedError(absl::StrCat(flag, " ", path, ": more than 8 symlinks"));
}

}  // namespace

absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, const char* flag, Credential kind,
                                               size_t max_bytes) {
  absl::StatusOr<std::string> resolved = ResolveTrustedLinks(path, flag);
  if (!resolved.ok()) return resolved.status();
  int fd = open(resolved->c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path, ": ", strerror(errno)));
  struct stat st;
  absl::Status ok = fstat(fd, &st) == 0 ? CheckOpened(path, flag, kind, st)
                                         : absl::NotFoundError(absl::StrCat(flag, ": cannot stat ", path));
  std::string text;
  if (ok.ok() && static_cast<uint64_t>(st.st_size) > max_bytes)
    ok = absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": larger than ", max_bytes, " bytes"));
  if (ok.ok()) {
    text.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < text.size()) {
      ssize_t n = read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    text.resize(got);
  }
  close(fd);
  if (!ok.ok()) return ok;
  return text;
}

}  // namespace stallscope::net
