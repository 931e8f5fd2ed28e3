// `--token-file`: one `NAME TOKEN` pair per line ('#' comments and blank lines ignored). A
// client presenting TOKEN is the principal NAME. Lookups compare digests in constant time
// against every entry, so neither a match's position nor a prefix leaks through timing.
#ifndef STALLSCOPE_NET_TOKEN_FILE_H_
#define STALLSCOPE_NET_TOKEN_FILE_H_

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stallscope::net {

class TokenFile {
 public:
  static constexpr size_t kMaxBytes = 1 << 20;
  static constexpr size_t kMinTokenBytes = 16;

  static absl::StatusOr<TokenFile> Load(const std::string& path);
  static absl::StatusOr<TokenFile> Parse(absl::string_view text, absl::string_view origin);

  // The principal whose token this is.
  std::optional<std::string> Lookup(absl::string_view token) const;
  size_t size() const { return entries_.size(); }
  // The first entry's token: what an agent sends (`--collector-token-file` names one line).
  const std::string& first_token() const { return first_token_; }

 private:
  struct Entry {
    std::string name;
    std::array<unsigned char, 32> digest;
  };
  std::vector<Entry> entries_;
  std::string first_token_;
};

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_TOKEN_FILE_H_
