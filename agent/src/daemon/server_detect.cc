#include "daemon/server_detect.h"

#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

constexpr const char* kFrameworks[] = {"tornado", "aiohttp", "cherrypy"};
// Servers named by their command line (program or -m module): {name as run, server name}.
constexpr std::pair<const char*, const char*> kNamedServers[] = {
    {"uvicorn", "uvicorn"}, {"hypercorn", "hypercorn"}, {"daphne", "daphne"},
    {"twistd", "twisted"},  {"twisted", "twisted"},     {"jupyter", "jupyter"}};

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// "name" as a whole word in `text` (not "mytornado").
bool HasWord(absl::string_view text, absl::string_view name) {
  for (size_t at = text.find(name); at != absl::string_view::npos; at = text.find(name, at + 1)) {
    bool starts = at == 0 || !IsIdentChar(text[at - 1]);
    size_t end = at + name.size();
    if (starts && (end == text.size() || !IsIdentChar(text[end]))) return true;
  }
  return false;
}

// Gunicorn's APP_MODULE ("shop.wsgi:app", "shop:create_app()"): a Python module name, a colon,
// a name. Bind addresses (":80", "0.0.0.0:80") are not, since module names cannot start with
// a digit or a colon.
bool IsAppModule(const std::string& a) {
  size_t colon = a.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= a.size()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(a[0])) || a[0] == '_')) return false;
  for (size_t i = 0; i < colon; ++i)
    if (!IsIdentChar(a[i]) && a[i] != '.') return false;
  return std::isalpha(static_cast<unsigned char>(a[colon + 1])) || a[colon + 1] == '_';
}

std::string GunicornApp(const ProcessFacts& f) {
  // setproctitle: "gunicorn: master [shop.wsgi:app]"
  if (size_t open = f.cmdline.find('['); open != std::string::npos && absl::StartsWith(f.cmdline, "gunicorn:")) {
    size_t close = f.cmdline.find(']', open);
    if (close != std::string::npos) return f.cmdline.substr(open + 1, close - open - 1);
  }
  for (size_t i = f.argv.size(); i-- > 1;)
    if (IsAppModule(f.argv[i])) return f.argv[i];
  return "";
}

std::string UwsgiApp(const ProcessFacts& f) {
  for (size_t i = 1; i + 1 < f.argv.size(); ++i) {
    const std::string& a = f.argv[i];
    if (a == "--module" || a == "-w" || a == "--wsgi" || a == "--wsgi-file" || a == "--file" || a == "--ini")
      return f.argv[i + 1];
  }
  return "";
}

bool LooksLike(const ProcessFacts& f, absl::string_view name) {
  for (size_t i = 0; i < f.argv.size() && i < 3; ++i)
    if (absl::StartsWith(Basename(f.argv[i]), name)) return true;
  for (size_t i = 0; i + 1 < f.argv.size(); ++i)
    if (f.argv[i] == "-m" && absl::StartsWith(f.argv[i + 1], name)) return true;
  return absl::StartsWith(f.stat.comm, name) || absl::StartsWith(Basename(f.exe), name);
}

// What a Python process runs: "-m module" or the script path.
std::string PythonMain(const ProcessFacts& f) {
  for (size_t i = 1; i < f.argv.size(); ++i) {
    const std::string& a = f.argv[i];
    if (a == "-m" && i + 1 < f.argv.size()) return f.argv[i + 1];
    if (a == "-c") return "-c";
    if (a == "-W" || a == "-X") {
      ++i;
      continue;
    }
    if (!absl::StartsWith(a, "-")) return Basename(a);
  }
  return "";
}

}  // namespace

bool IsKnownServer(const std::string& name) {
  if (name == "any" || name == "gunicorn" || name == "uwsgi" || name == "python") return true;
  for (const auto& [run_as, server] : kNamedServers)
    if (name == server) return true;
  for (const char* fw : kFrameworks)
    if (name == fw) return true;
  return false;
}

std::string FrameworkImportedBy(const std::string& script) {
  for (absl::string_view line : absl::StrSplit(script, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, "import ") && !absl::ConsumePrefix(&line, "from ")) continue;
    line = absl::StripLeadingAsciiWhitespace(line);
    for (const char* fw : kFrameworks) {
      absl::string_view rest = line;
      if (absl::ConsumePrefix(&rest, fw) && (rest.empty() || !IsIdentChar(rest[0]))) return fw;
    }
  }
  return "";
}

namespace {

std::optional<ServerMatch> Detect(const ProcessFacts& f, const std::string& proc_root) {
  if (f.stat.kernel_thread || f.argv.empty()) return std::nullopt;
  if (LooksLike(f, "gunicorn")) return ServerMatch{"gunicorn", GunicornApp(f)};
  if (LooksLike(f, "uwsgi")) return ServerMatch{"uwsgi", UwsgiApp(f)};
  if (!IsPythonExecutable(f.exe) && !IsPythonExecutable(f.argv[0])) return std::nullopt;
  std::string main = PythonMain(f);
  for (const auto& [run_as, server] : kNamedServers)
    if (LooksLike(f, run_as)) return ServerMatch{server, GunicornApp(f).empty() ? main : GunicornApp(f)};
  // 1. the command line names it ("-m aiohttp.web", cherryd)
  for (size_t i = 1; i < f.argv.size(); ++i)
    for (const char* fw : kFrameworks)
      if (HasWord(Basename(f.argv[i]), fw)) return ServerMatch{fw, main};
  // 2. the framework's compiled modules are mapped (tornado.speedups, aiohttp's parsers)
  for (const std::string& file : ReadMappedFiles(f.stat.pid, proc_root))
    for (const char* fw : kFrameworks)
      if (absl::StrContains(file, std::string("/") + fw + "/")) return ServerMatch{fw, main};
  // 3. the main script imports it (pure-Python frameworks map nothing of their own)
  std::string imported = FrameworkImportedBy(ReadMainScript(f, 256 * 1024, proc_root));
  if (!imported.empty()) return ServerMatch{imported, main};
  // 4. it serves: a listening socket of its own
  if (CountListeningSockets(f.stat.pid, proc_root) > 0) return ServerMatch{"python", main};
  return std::nullopt;
}

}  // namespace

std::optional<ServerMatch> DetectServer(const ProcessFacts& f, const std::string& proc_root) {
  std::optional<ServerMatch> match = Detect(f, proc_root);
  // The app comes from the command line: the target's text, shown in logs and labels.
  if (match) SanitizeTargetStringInPlace(&match->app, kMaxLabelTextBytes);
  return match;
}

std::string NotServingReason(const ProcessFacts& f) {
  if (f.argv.empty() || (!IsPythonExecutable(f.exe) && !IsPythonExecutable(f.argv[0]))) return "";
  return "a Python process without a listening TCP or unix socket";
}

}  // namespace stallscope
