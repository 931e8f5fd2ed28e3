#include "token_file.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stallscope::net {
namespace {

std::array<unsigned char, 32> Digest(absl::string_view s) {
  std::array<unsigned char, 32> d;
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

}  // namespace

absl::StatusOr<TokenFile> TokenFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  std::string text(kMaxBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxBytes) return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
  return Parse(text, path);
}

absl::StatusOr<TokenFile> TokenFile::Parse(absl::string_view text, absl::string_view origin) {
  TokenFile file;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    // A bare token (a Kubernetes Secret holding only the token) is the agent's form.
    if (parts.size() == 1) parts.insert(parts.begin(), "token");
    if (parts.size() != 2)
      return absl::InvalidArgumentError(absl::StrCat(origin, ":", line_no, ": not 'NAME TOKEN'"));
    if (parts[1].size() < kMinTokenBytes)
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_no, ": token shorter than ", kMinTokenBytes, " characters"));
    if (file.entries_.empty()) file.first_token_ = std::string(parts[1]);
    file.entries_.push_back({std::string(parts[0]), Digest(parts[1])});
  }
  if (file.entries_.empty()) return absl::InvalidArgumentError(absl::StrCat(origin, ": no tokens"));
  return file;
}

std::optional<std::string> TokenFile::Lookup(absl::string_view token) const {
  std::array<unsigned char, 32> d = Digest(token);
  const Entry* found = nullptr;
  for (const Entry& e : entries_)  // no early exit: the time does not depend on which matched
    if (CRYPTO_memcmp(d.data(), e.digest.data(), d.size()) == 0 && found == nullptr) found = &e;
  if (found == nullptr) return std::nullopt;
  return found->name;
}

}  // namespace stallscope::net
