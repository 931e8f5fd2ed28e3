// Which Python module a code object belongs to, derived from its co_filename alone (no file
// system access, so it is cheap, deterministic and works for files the agent cannot see):
//  - Below a "site-packages" or "dist-packages" directory (the last one in the path), or below
//    the standard library's "pythonX.Y" directory: the dotted path under it.
//      /usr/lib/python3/dist-packages/tornado/web.py  -> tornado.web
//      /usr/lib/python3.11/asyncio/base_events.py     -> asyncio.base_events
//      .../site-packages/gevent/__init__.py           -> gevent
//  - "<frozen importlib._bootstrap>" -> importlib._bootstrap; other "<...>" names ("<string>",
//    "<stdin>") stay as they are.
//  - Anything else (application code): the file name without its extension, or the directory
//    name for an __init__.py. /srv/app/handlers.py -> handlers. (Application packages are not
//    recognised as such: that would need the target's sys.path.)
#ifndef STALLSCOPE_AGENT_PYTHON_MODULE_NAME_H_
#define STALLSCOPE_AGENT_PYTHON_MODULE_NAME_H_

#include <string>
#include <string_view>

namespace stallscope {

std::string ModuleFromFilename(std::string_view filename);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_MODULE_NAME_H_
