#include "python/module_name.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

TEST(PythonModuleName, PackagesBelowSitePackages) {
  EXPECT_EQ(ModuleFromFilename("/usr/lib/python3/dist-packages/tornado/web.py"), "tornado.web");
  EXPECT_EQ(ModuleFromFilename("/venv/lib/python3.11/site-packages/aiohttp/web_protocol.py"),
            "aiohttp.web_protocol");
  EXPECT_EQ(ModuleFromFilename("/usr/lib/python3/dist-packages/gevent/__init__.py"), "gevent");
  EXPECT_EQ(ModuleFromFilename("/usr/lib/python3/dist-packages/six.py"), "six");
}

TEST(PythonModuleName, StandardLibrary) {
  EXPECT_EQ(ModuleFromFilename("/usr/lib/python3.11/asyncio/base_events.py"),
            "asyncio.base_events");
  EXPECT_EQ(ModuleFromFilename("/usr/lib/python3.11/threading.py"), "threading");
  EXPECT_EQ(ModuleFromFilename("/root/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py"),
            "json");
  EXPECT_EQ(ModuleFromFilename("<frozen importlib._bootstrap>"), "importlib._bootstrap");
  // Free-threaded builds keep theirs in lib/python3.13t.
  EXPECT_EQ(ModuleFromFilename("/opt/python3.13t/lib/python3.13t/asyncio/events.py"),
            "asyncio.events");
}

TEST(PythonModuleName, ApplicationCode) {
  EXPECT_EQ(ModuleFromFilename("/srv/app/handlers.py"), "handlers");
  EXPECT_EQ(ModuleFromFilename("/srv/app/api/__init__.py"), "api");
  EXPECT_EQ(ModuleFromFilename("handlers.py"), "handlers");
  EXPECT_EQ(ModuleFromFilename("/opt/python3.11-tools/run.py"), "run");  // not lib/pythonX.Y
  EXPECT_EQ(ModuleFromFilename("/srv/python3.13test/run.py"), "run");
  EXPECT_EQ(ModuleFromFilename("<string>"), "<string>");
  EXPECT_EQ(ModuleFromFilename(""), "");
  EXPECT_EQ(ModuleFromFilename("/"), "/");
}

}  // namespace
}  // namespace stallscope
