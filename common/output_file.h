// The one way the agent and the collector create the files they write: reports (--output, the
// daemon's output), flame graphs, the demo's script, the collector's SQLite database.
//
// Both may run as root in directories other users can write (/tmp, a shared log directory), so
// a name there may be a trap someone planted: a symlink to /etc/shadow, a hard link to a
// root-only file, another user's file or FIFO. The rules (docs/security.md, "Files the agent
// writes"):
//   - the directory is opened once, a component at a time (O_PATH | O_NOFOLLOW): a symlink on
//     the way that another user owns in a world-writable directory is refused, others followed;
//     it is checked on that fd and the file is opened relative to it (openat), so the directory
//     checked is the directory written in;
//   - a directory every user may write without the sticky bit is refused (anyone could swap the
//     name); with `private_directory` (a database, whose -wal and -shm names could be planted)
//     any directory every user may write, sticky or not;
//   - no symlink as the last component (O_NOFOLLOW), whatever fs.protected_symlinks says;
//   - a new file is created 0600 (O_EXCL, so it is ours); an existing one is used only when it
//     is a regular file (or a FIFO / character device such as /dev/null) owned by this user or
//     by the directory's owner (fs.protected_regular's rule), with one link, and it is truncated
//     only after those checks (no O_TRUNC);
//   - `exclusive` (names the program makes itself): the name must not exist at all.
// Every refusal and failure is one line: "cannot write PATH: why".
#ifndef STALLSCOPE_COMMON_OUTPUT_FILE_H_
#define STALLSCOPE_COMMON_OUTPUT_FILE_H_

#include <sys/types.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stallscope {

struct OutputFileOptions {
  bool exclusive = false;          // the name must not exist yet (O_EXCL)
  bool truncate = true;            // false: keep an existing file's contents (a database)
  bool private_directory = false;  // refuse a world-writable directory, sticky or not
  mode_t mode = 0600;              // for a file this call creates (the umask may narrow it)
};

// An fd open O_WRONLY | O_CLOEXEC on PATH, following the rules above. PermissionDenied for a
// refusal, FailedPrecondition/Unavailable for what the system refused; the message is the line.
absl::StatusOr<int> OpenOutputFile(const std::string& path, const OutputFileOptions& options = {});

// OpenOutputFile as a stdio stream ("w"). Close it with CloseOutputStream.
absl::StatusOr<FILE*> OpenOutputStream(const std::string& path, const OutputFileOptions& options = {});

// fflush + fclose, reporting an earlier write error (ferror), a failed flush (ENOSPC, EIO) or
// close as "cannot write PATH: why". Closes the stream in every case; a null stream is ok.
absl::Status CloseOutputStream(FILE* stream, const std::string& path);

// Opens PATH as above, writes all of DATA (partial writes and EINTR retried) and closes it.
absl::Status WriteOutputFile(const std::string& path, absl::string_view data,
                             const OutputFileOptions& options = {});

}  // namespace stallscope

#endif  // STALLSCOPE_COMMON_OUTPUT_FILE_H_
