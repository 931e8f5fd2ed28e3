#include "token_file.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "credential_file.h"

namespace stallscope::net {
namespace {

std::array<unsigned char, 32> Digest(absl::string_view s) {
  std::array<unsigned char, 32> d;
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

std::optional<unsigned> ParseRoles(absl::string_view text) {
  unsigned roles = 0;
  for (absl::string_view r : absl::StrSplit(text, ',')) {
    if (r == "ingest") roles |= kRoleIngest;
    else if (r == "read") roles |= kRoleRead;
    else return std::nullopt;
  }
  return roles;
}

}  // namespace

absl::StatusOr<TokenFile> TokenFile::Load(const std::string& path, unsigned default_roles) {
  absl::StatusOr<std::string> text = ReadCredentialFile(path, "token file", Credential::kSecret, kMaxBytes);
  if (!text.ok()) return text.status();
  return Parse(*text, path, default_roles);
}

absl::StatusOr<TokenFile> TokenFile::Parse(absl::string_view text, absl::string_view origin,
                                           unsigned default_roles) {
  TokenFile file;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    // A bare token (a Kubernetes Secret holding only the token) is the agent's form.
    if (parts.size() == 1) parts.insert(parts.begin(), "token");
    std::optional<unsigned> roles = default_roles;
    if (parts.size() == 3) roles = ParseRoles(parts[2]);
    if (parts.size() > 3 || !roles)
      return absl::InvalidArgumentError(absl::StrCat(origin, ":", line_no, ": not 'NAME TOKEN [ingest|read|ingest,read]'"));
    if (parts[1].size() < kMinTokenBytes)
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_no, ": token shorter than ", kMinTokenBytes, " characters"));
    if (file.entries_.empty()) file.first_token_ = std::string(parts[1]);
    file.entries_.push_back({{std::string(parts[0]), *roles}, Digest(parts[1])});
  }
  if (file.entries_.empty()) return absl::InvalidArgumentError(absl::StrCat(origin, ": no tokens"));
  return file;
}

std::optional<TokenPrincipal> TokenFile::Lookup(absl::string_view token) const {
  std::array<unsigned char, 32> d = Digest(token);
  const Entry* found = nullptr;
  for (const Entry& e : entries_)  // no early exit: the time does not depend on which matched
    if (CRYPTO_memcmp(d.data(), e.digest.data(), d.size()) == 0 && found == nullptr) found = &e;
  if (found == nullptr) return std::nullopt;
  return found->principal;
}

}  // namespace stallscope::net
