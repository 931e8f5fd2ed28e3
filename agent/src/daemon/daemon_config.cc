#include "daemon/daemon_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "daemon/selectors.h"
#include "daemon/service_rule.h"

namespace stallscope {
namespace {

template <typename T>
absl::Status ParseNumber(absl::string_view value, T min, T max, T* out) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(value, &v) || v < static_cast<uint64_t>(min) || v > static_cast<uint64_t>(max))
    return absl::InvalidArgumentError(absl::StrCat("'", value, "' is not a number from ", min, " to ", max));
  *out = static_cast<T>(v);
  return absl::OkStatus();
}

absl::Status Apply(DaemonConfig& c, absl::string_view key, absl::string_view value) {
  std::string v(value);
  if (key == "collector") c.collector = v;
  else if (key == "collector_buffer") return ParseNumber<size_t>(value, 100, 10'000'000, &c.collector_buffer);
  else if (key == "listen") c.listen = v == "off" ? "" : v;
  else if (key == "collector_ca") c.collector_ca = v;
  else if (key == "tls_cert") c.tls_cert = v;
  else if (key == "tls_key") c.tls_key = v;
  else if (key == "collector_token_file") c.collector_token_file = v;
  else if (key == "listen_token_file") c.listen_token_file = v;
  else if (key == "insecure") {
    if (v != "true" && v != "false") return absl::InvalidArgumentError("insecure: not true or false");
    c.insecure = v == "true";
  } else if (key == "listen_insecure") {
    if (v != "true" && v != "false") return absl::InvalidArgumentError("listen_insecure is true or false");
    c.listen_insecure = v == "true";
  } else if (key == "select" || key == "exclude") {
    if (absl::Status st = ParseSelector(v).status(); !st.ok()) return st;
    (key == "select" ? c.select : c.exclude).push_back(v);
  } else if (key == "service") {
    if (absl::Status st = ParseServiceRule(v).status(); !st.ok()) return st;
    c.service = v;
  } else if (key == "max_processes") return ParseNumber<uint32_t>(value, 1, 65536, &c.max_processes);
  else if (key == "max_threads") return ParseNumber<uint32_t>(value, 16, 1'000'000, &c.max_threads);
  else if (key == "block_threshold_ms") return ParseNumber<uint64_t>(value, 1, 3'600'000, &c.block_threshold_ms);
  else if (key == "scan_interval_ms") return ParseNumber<uint32_t>(value, 100, 60'000, &c.scan_interval_ms);
  else if (key == "stats_interval_s") return ParseNumber<uint32_t>(value, 1, 86'400, &c.stats_interval_s);
  else if (key == "memory_limit_mb") return ParseNumber<uint64_t>(value, 32, 1'000'000, &c.memory_limit_mb);
  else if (key == "host_root") c.host_root = v;
  else if (key == "output") c.output = v;
  else if (key == "format") {
    if (v != "json" && v != "text") return absl::InvalidArgumentError("format is json or text");
    c.format = v;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown key '", key, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DaemonConfig> ParseDaemonConfig(const std::string& text) {
  DaemonConfig config;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos)
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": expected 'key = value'"));
    absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, eq));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    if (absl::Status st = Apply(config, key, value); !st.ok())
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", key, ": ", st.message()));
  }
  return config;
}

absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = ParseDaemonConfig(ss.str());
  if (!config.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  return config;
}

}  // namespace stallscope
