// Reading the files that prove who is who: tokens and TLS private keys (secrets) and
// certificates (public). A secret another user can read is no longer a secret, and a file
// another user can write lets that user add a token or swap a key, which a reload would then
// honour. So every such file, at start and at every reload, must be:
//   - a regular file, opened O_NOFOLLOW and checked on the opened fd (fstat), so the inode
//     checked is the one read; a symlink is followed only when root or this user owns it
//     (a Kubernetes Secret volume's files are root's symlinks), 8 hops at most;
//   - owned by this process's user or by root, and writable by no one else (no g+w, o+w);
//   - for a secret, readable by no one else: no o+r, and g+r only when the group is this
//     process's own group (a Kubernetes fsGroup).
// A refusal is PERMISSION_DENIED with one line naming the file, its owner and mode, and the fix;
// the binaries exit kExitUnsafeCredentials for it.
#ifndef STALLSCOPE_NET_CREDENTIAL_FILE_H_
#define STALLSCOPE_NET_CREDENTIAL_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace stallscope::net {

// Exit code of both binaries when a token, key or certificate file is unsafe (README,
// docs/collector.md).
inline constexpr int kExitUnsafeCredentials = 10;

enum class Credential { kSecret, kPublic };

// The file's text (at most `max_bytes`; larger is an error). `flag` names it in errors.
absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, const char* flag, Credential kind,
                                               size_t max_bytes = 1 << 20);

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_CREDENTIAL_FILE_H_
