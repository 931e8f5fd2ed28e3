// Recognises the Python web servers the daemon tracks by default: gunicorn and uWSGI masters
// (by executable and command line); Python processes running Tornado, aiohttp or CherryPy (by
// command line, the framework's compiled modules in the memory maps, or an import of the
// framework in the main script); uvicorn, hypercorn, daphne, Twisted (twistd) and Jupyter by
// command line; and any other Python process that serves: it holds a listening TCP or unix
// socket (server "python": plain asyncio servers, Twisted apps, workers of a server whose
// master is not Python). Workers of a tracked server are tracked with it.
#ifndef STALLSCOPE_AGENT_DAEMON_SERVER_DETECT_H_
#define STALLSCOPE_AGENT_DAEMON_SERVER_DETECT_H_

#include <optional>
#include <string>

#include "daemon/process_facts.h"

namespace stallscope {

struct ServerMatch {
  std::string server;  // "gunicorn", "uwsgi", "tornado", "uvicorn", ..., "python"
  std::string app;     // "shop.wsgi:app", "app.py", "" when not found
};

// Known server names, for `server:NAME` selectors ("any" = all of them).
bool IsKnownServer(const std::string& name);

// Reads maps and the main script only for Python interpreters.
std::optional<ServerMatch> DetectServer(const ProcessFacts& facts, const std::string& proc_root = "/proc");

// Why a Python process is no server, for --verbose and metrics; "" for other processes.
std::string NotServingReason(const ProcessFacts& facts);

// The framework imported at top level by a script ("import tornado.web", "from aiohttp import
// web"), "" if none of the known ones.
std::string FrameworkImportedBy(const std::string& script);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_SERVER_DETECT_H_
