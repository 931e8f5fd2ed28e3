// Which processes the daemon tracks. A selector is one `select = ...` (or `exclude = ...`) line:
// space-separated terms that must all match. Terms:
//   server:NAME       gunicorn | uwsgi | tornado | aiohttp | cherrypy | uvicorn | hypercorn |
//                     daphne | twisted | jupyter | python (any other serving Python process) |
//                     any (server_detect.h)
//   cmdline:REGEX     searched in the command line (arguments joined with spaces)
//   exe:REGEX         the executable's path
//   comm:REGEX        the process name
//   cgroup:REGEX      the process's cgroup path
//   label:KEY[=VALUE] a container label / OCI annotation exists (and equals VALUE)
//   pod:REGEX  namespace:REGEX  container:REGEX   Kubernetes names
// Regexes are RE2 syntax (as ECMAScript without backreferences and lookaround), unanchored (use
// ^...$ to anchor). RE2 matches in linear time without recursion: the subjects come from the
// target (a 64 KB command line overflowed std::regex's recursive matcher and crashed the daemon;
// nested quantifiers made it backtrack for ever).
#ifndef STALLSCOPE_AGENT_DAEMON_SELECTORS_H_
#define STALLSCOPE_AGENT_DAEMON_SELECTORS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/process_facts.h"
#include "daemon/server_detect.h"
#include "identity/cgroup_identity.h"
#include "identity/container_metadata.h"
#include "re2/re2.h"

namespace stallscope {

struct ContainerInfo {
  CgroupIdentity cgroup;
  ContainerMetadata meta;
};

struct SelectorTerm {
  std::string kind;  // server, cmdline, exe, comm, cgroup, label, pod, namespace, container
  std::string arg;
  std::shared_ptr<const re2::RE2> re;  // regex kinds
  std::string label_key, label_value;
  bool label_has_value = false;
};

struct Selector {
  std::string text;
  std::vector<SelectorTerm> terms;
};

absl::StatusOr<Selector> ParseSelector(const std::string& line);

// A process being judged: costly facts (server detection, container info) are computed once,
// on demand, by whichever term needs them first.
class Candidate {
 public:
  Candidate(const ProcessFacts& facts, std::function<ContainerInfo(pid_t)> container_info,
            std::string proc_root = "/proc");
  const ProcessFacts& facts() const { return facts_; }
  const std::optional<ServerMatch>& server();
  const ContainerInfo& container();

 private:
  const ProcessFacts& facts_;
  std::function<ContainerInfo(pid_t)> container_info_;
  std::string proc_root_;
  bool server_done_ = false;
  std::optional<ServerMatch> server_;
  std::optional<ContainerInfo> container_;
};

bool Matches(const Selector& selector, Candidate& c);

// select lines OR'ed, minus exclude lines; no select line = `server:any`.
class SelectorSet {
 public:
  static absl::StatusOr<SelectorSet> Create(const std::vector<std::string>& select,
                                            const std::vector<std::string>& exclude);
  bool Selects(Candidate& c) const;

 private:
  std::vector<Selector> select_, exclude_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_SELECTORS_H_
