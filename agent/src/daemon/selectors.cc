#include "daemon/selectors.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stallscope {
namespace {

const std::set<std::string> kRegexKinds = {"cmdline", "exe", "comm", "cgroup", "pod", "namespace", "container"};

bool Search(const SelectorTerm& t, const std::string& text) { return re2::RE2::PartialMatch(text, *t.re); }

bool TermMatches(const SelectorTerm& t, Candidate& c) {
  const ProcessFacts& f = c.facts();
  if (t.kind == "server") {
    const auto& s = c.server();
    return s && (t.arg == "any" || s->server == t.arg);
  }
  if (t.kind == "cmdline") return Search(t, f.cmdline);
  if (t.kind == "exe") return Search(t, f.exe);
  if (t.kind == "comm") return Search(t, f.stat.comm);
  if (t.kind == "cgroup") return Search(t, c.container().cgroup.cgroup_path);
  if (t.kind == "pod") return Search(t, c.container().meta.pod);
  if (t.kind == "namespace") return Search(t, c.container().meta.pod_namespace);
  if (t.kind == "container") return Search(t, c.container().meta.container);
  if (t.kind == "label") {
    const auto& labels = c.container().meta.labels;
    auto it = labels.find(t.label_key);
    return it != labels.end() && (!t.label_has_value || it->second == t.label_value);
  }
  return false;
}

}  // namespace

absl::StatusOr<Selector> ParseSelector(const std::string& line) {
  Selector sel;
  sel.text = line;
  for (absl::string_view word : absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
    SelectorTerm t;
    size_t colon = word.find(':');
    if (colon == absl::string_view::npos)
      return absl::InvalidArgumentError(absl::StrCat("'", word, "': a term is KIND:VALUE (server:gunicorn, cmdline:REGEX, ...)"));
    t.kind = std::string(word.substr(0, colon));
    t.arg = std::string(word.substr(colon + 1));
    if (t.arg.empty()) return absl::InvalidArgumentError(absl::StrCat("'", word, "': empty value"));
    if (t.kind == "server") {
      if (!IsKnownServer(t.arg))
        return absl::InvalidArgumentError(absl::StrCat("'", word, "': servers are gunicorn, uwsgi, tornado, aiohttp, cherrypy, uvicorn, hypercorn, daphne, twisted, jupyter, python, any"));
    } else if (t.kind == "label") {
      size_t eq = t.arg.find('=');
      t.label_key = t.arg.substr(0, eq);
      t.label_has_value = eq != std::string::npos;
      if (t.label_has_value) t.label_value = t.arg.substr(eq + 1);
    } else if (kRegexKinds.count(t.kind)) {
      re2::RE2::Options options;
      options.set_log_errors(false);
      auto re = std::make_shared<const re2::RE2>(t.arg, options);
      if (!re->ok()) return absl::InvalidArgumentError(absl::StrCat("'", word, "': bad regex: ", re->error()));
      t.re = std::move(re);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", word, "': unknown kind '", t.kind, "' (server, cmdline, exe, comm, cgroup, label, pod, namespace, container)"));
    }
    sel.terms.push_back(std::move(t));
  }
  if (sel.terms.empty()) return absl::InvalidArgumentError("empty selector");
  return sel;
}

Candidate::Candidate(const ProcessFacts& facts, std::function<ContainerInfo(pid_t)> container_info,
                     std::string proc_root)
    : facts_(facts), container_info_(std::move(container_info)), proc_root_(std::move(proc_root)) {}

const std::optional<ServerMatch>& Candidate::server() {
  if (!server_done_) {
    server_ = DetectServer(facts_, proc_root_);
    server_done_ = true;
  }
  return server_;
}

const ContainerInfo& Candidate::container() {
  if (!container_) container_ = container_info_ ? container_info_(facts_.stat.pid) : ContainerInfo{};
  return *container_;
}

bool Matches(const Selector& selector, Candidate& c) {
  for (const SelectorTerm& t : selector.terms)
    if (!TermMatches(t, c)) return false;
  return true;
}

absl::StatusOr<SelectorSet> SelectorSet::Create(const std::vector<std::string>& select,
                                                const std::vector<std::string>& exclude) {
  SelectorSet set;
  for (const std::string& line : select.empty() ? std::vector<std::string>{"server:any"} : select) {
    auto s = ParseSelector(line);
    if (!s.ok()) return s.status();
    set.select_.push_back(std::move(*s));
  }
  for (const std::string& line : exclude) {
    auto s = ParseSelector(line);
    if (!s.ok()) return s.status();
    set.exclude_.push_back(std::move(*s));
  }
  return set;
}

bool SelectorSet::Selects(Candidate& c) const {
  bool selected = false;
  for (const Selector& s : select_)
    if (Matches(s, c)) {
      selected = true;
      break;
    }
  if (!selected) return false;
  for (const Selector& s : exclude_)
    if (Matches(s, c)) return false;
  return true;
}

}  // namespace stallscope
