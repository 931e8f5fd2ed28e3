// `--token-file`: one `NAME TOKEN [ROLES]` line per token ('#' comments and blank lines
// ignored); a client presenting TOKEN is the principal NAME. ROLES is `ingest` (send reports
// over gRPC), `read` (the HTTP API, dashboard and /metrics) or `ingest,read`. A line without
// roles has the file's default: ingest on the collector, so an agent's token cannot read the
// fleet's data unless the file says `read`; read on the daemon's ops port (it only serves
// /metrics). A bare TOKEN line is the agent's own form (a Secret holding only its token).
// Lookups compare digests in constant time against every entry, so neither a match's position
// nor a prefix leaks through timing. Load reads through ReadCredentialFile (owner and mode).
#ifndef STALLSCOPE_NET_TOKEN_FILE_H_
#define STALLSCOPE_NET_TOKEN_FILE_H_

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stallscope::net {

enum TokenRole : unsigned { kRoleIngest = 1, kRoleRead = 2 };

struct TokenPrincipal {
  std::string name;
  unsigned roles = 0;
  bool operator==(const TokenPrincipal&) const = default;
};

class TokenFile {
 public:
  static constexpr size_t kMaxBytes = 1 << 20;
  static constexpr size_t kMinTokenBytes = 16;

  static absl::StatusOr<TokenFile> Load(const std::string& path, unsigned default_roles = kRoleIngest);
  static absl::StatusOr<TokenFile> Parse(absl::string_view text, absl::string_view origin,
                                         unsigned default_roles = kRoleIngest);

  // Whose token this is, and what it may do.
  std::optional<TokenPrincipal> Lookup(absl::string_view token) const;
  size_t size() const { return entries_.size(); }
  // The first entry's token: what an agent sends (`--collector-token-file` names one line).
  const std::string& first_token() const { return first_token_; }

 private:
  struct Entry {
    TokenPrincipal principal;
    std::array<unsigned char, 32> digest;
  };
  std::vector<Entry> entries_;
  std::string first_token_;
};

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_TOKEN_FILE_H_
