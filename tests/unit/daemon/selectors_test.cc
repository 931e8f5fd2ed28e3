#include "daemon/selectors.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "daemon/server_detect.h"

namespace stallscope {
namespace {

ProcessFacts Facts(std::vector<std::string> argv, std::string exe, std::string comm) {
  ProcessFacts f;
  f.stat.pid = 999999;  // no such process: detection must not need /proc for these
  f.stat.comm = std::move(comm);
  f.argv = std::move(argv);
  for (const auto& a : f.argv) f.cmdline += (f.cmdline.empty() ? "" : " ") + a;
  f.exe = std::move(exe);
  return f;
}

ContainerInfo InPod(pid_t) {
  ContainerInfo c;
  c.cgroup.cgroup_path = "/kubepods.slice/kubepods-burstable.slice/x.slice/cri-containerd-abc.scope";
  c.meta.pod = "checkout-7d9f8b6c5-x2x9k";
  c.meta.pod_namespace = "shop";
  c.meta.labels["team"] = "payments";
  return c;
}

TEST(ServerDetectTest, GunicornAndUwsgiByCommandLine) {
  auto g = DetectServer(Facts({"/usr/bin/python3", "/usr/bin/gunicorn", "-w", "2", "-b", ":80", "shop.wsgi:app"},
                              "/usr/bin/python3.11", "gunicorn"));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->server, "gunicorn");
  EXPECT_EQ(g->app, "shop.wsgi:app");
  auto titled = DetectServer(Facts({"gunicorn: master [shop.wsgi:app]"}, "/usr/bin/python3.11", "gunicorn"));
  ASSERT_TRUE(titled);
  EXPECT_EQ(titled->app, "shop.wsgi:app");
  auto u = DetectServer(Facts({"uwsgi", "--http", ":8000", "--module", "shop.wsgi:application"}, "/usr/bin/uwsgi-core",
                              "uwsgi"));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->server, "uwsgi");
  EXPECT_EQ(u->app, "shop.wsgi:application");
  auto m = DetectServer(Facts({"python3", "-m", "aiohttp.web", "-P", "8080", "app:init"}, "/usr/bin/python3.11",
                              "python3"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->server, "aiohttp");
  EXPECT_FALSE(DetectServer(Facts({"/usr/sbin/nginx", "-g", "daemon off;"}, "/usr/sbin/nginx", "nginx")));
  EXPECT_FALSE(DetectServer(Facts({"python3", "-c", "import time; time.sleep(9)"}, "/usr/bin/python3.11", "python3")));
}

TEST(ServerDetectTest, FrameworkImports) {
  EXPECT_EQ(FrameworkImportedBy("import os\nimport tornado.web\n"), "tornado");
  EXPECT_EQ(FrameworkImportedBy("from aiohttp import web\n"), "aiohttp");
  EXPECT_EQ(FrameworkImportedBy("    import cherrypy\n"), "cherrypy");
  EXPECT_EQ(FrameworkImportedBy("import tornadoes\n# import tornado\nx = 'import aiohttp'\n"), "");
}

TEST(SelectorTest, TermsMustAllMatch) {
  ProcessFacts f = Facts({"/usr/bin/python3", "/usr/bin/gunicorn", "shop.wsgi:app"}, "/usr/bin/python3.11", "gunicorn");
  auto both = ParseSelector("server:gunicorn namespace:^shop$");
  ASSERT_TRUE(both.ok());
  Candidate c(f, InPod);
  EXPECT_TRUE(Matches(*both, c));
  Candidate c2(f, InPod);
  EXPECT_FALSE(Matches(*ParseSelector("server:gunicorn namespace:^kube-system$"), c2));
  Candidate c3(f, InPod);
  EXPECT_TRUE(Matches(*ParseSelector("label:team=payments cgroup:kubepods"), c3));
  Candidate c4(f, InPod);
  EXPECT_FALSE(Matches(*ParseSelector("label:team=search"), c4));
  Candidate c5(f, InPod);
  EXPECT_TRUE(Matches(*ParseSelector("cmdline:wsgi:app$ exe:python"), c5));
}

TEST(SelectorTest, ExcludeWinsAndDefaultIsAnyServer) {
  ProcessFacts g = Facts({"/usr/bin/python3", "/usr/bin/gunicorn", "shop.wsgi:app"}, "/usr/bin/python3.11", "gunicorn");
  ProcessFacts other = Facts({"/usr/bin/python3", "-c", "pass"}, "/usr/bin/python3.11", "python3");
  auto defaults = SelectorSet::Create({}, {});
  ASSERT_TRUE(defaults.ok());
  Candidate a(g, InPod), b(other, InPod);
  EXPECT_TRUE(defaults->Selects(a));
  EXPECT_FALSE(defaults->Selects(b));
  auto excluding = SelectorSet::Create({}, {"pod:^checkout-"});
  Candidate c(g, InPod);
  EXPECT_FALSE(excluding->Selects(c));
}

TEST(SelectorTest, HostileCommandLinesAndPatternsMatchInBoundedTime) {
  // The target writes its command line (the daemon reads up to 64 KB of it): std::regex's
  // recursive matcher overflowed the stack on `.*` over it; nested quantifiers (found by the
  // daemon_config fuzzer) backtracked exponentially. Both end at once now.
  ProcessFacts f = Facts({"/usr/bin/python3", std::string(64 << 10, 'a'), "shop"}, "/usr/bin/python3", "gunicorn");
  Candidate c(f, InPod);
  EXPECT_TRUE(Matches(*ParseSelector("cmdline:.*shop"), c));
  EXPECT_FALSE(Matches(*ParseSelector("cmdline:(a|b)*c"), c));
  auto nested = ParseSelector("comm:^((((((((((g*)*)*)*)*)*)*)*)*)*)*unicorn$");
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_TRUE(Matches(*nested, c));
}

TEST(SelectorTest, ParseErrorsSayWhatIsWrong) {
  EXPECT_NE(ParseSelector("gunicorn").status().message().find("KIND:VALUE"), std::string::npos);
  EXPECT_NE(ParseSelector("server:nginx").status().message().find("servers are"), std::string::npos);
  EXPECT_NE(ParseSelector("cmdline:(").status().message().find("bad regex"), std::string::npos);
  EXPECT_NE(ParseSelector("color:red").status().message().find("unknown kind"), std::string::npos);
}

}  // namespace
}  // namespace stallscope

namespace stallscope {
namespace {

TEST(ServerDetectTest, MainScriptThatIsAFifoDoesNotBlock) {
  // `python3 /path/fifo`: discovery reads the main script for imports; a FIFO must not hang it.
  std::string dir = ::testing::TempDir() + "stallscope-fifo-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::string fifo = dir + "/app.py";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ProcessFacts f;
  f.stat.pid = getpid();
  f.argv = {"python3", fifo};
  EXPECT_EQ(ReadMainScript(f, 4096), "");
  std::string script = dir + "/real.py";
  FILE* out = fopen(script.c_str(), "w");
  fputs("import tornado.web\n", out);
  fclose(out);
  f.argv = {"python3", script};
  EXPECT_EQ(FrameworkImportedBy(ReadMainScript(f, 4096)), "tornado");
  unlink(fifo.c_str());
  unlink(script.c_str());
  rmdir(dir.c_str());
}

TEST(ServerDetectTest, AsgiServersTwistedAndJupyterByCommandLine) {
  auto uv = DetectServer(Facts({"/usr/bin/python3", "-m", "uvicorn", "--loop", "uvloop", "main:app"},
                               "/usr/bin/python3.11", "python3"));
  ASSERT_TRUE(uv);
  EXPECT_EQ(uv->server, "uvicorn");
  EXPECT_EQ(uv->app, "main:app");
  auto hc = DetectServer(Facts({"/usr/bin/python3", "/usr/bin/hypercorn", "shop.asgi:application"},
                               "/usr/bin/python3.11", "hypercorn"));
  ASSERT_TRUE(hc);
  EXPECT_EQ(hc->server, "hypercorn");
  auto tw = DetectServer(Facts({"/usr/bin/python3", "/usr/bin/twistd", "-n", "web", "--path", "."},
                               "/usr/bin/python3.11", "twistd"));
  ASSERT_TRUE(tw);
  EXPECT_EQ(tw->server, "twisted");
  auto jp = DetectServer(Facts({"/usr/bin/python3", "/usr/bin/jupyter-server", "--no-browser"},
                               "/usr/bin/python3.11", "jupyter-server"));
  ASSERT_TRUE(jp);
  EXPECT_EQ(jp->server, "jupyter");
  EXPECT_TRUE(IsKnownServer("uvicorn") && IsKnownServer("twisted") && IsKnownServer("python"));
}

TEST(ServerDetectTest, WhyAPythonProcessIsNoServer) {
  EXPECT_EQ(NotServingReason(Facts({"python3", "-c", "pass"}, "/usr/bin/python3.11", "python3")),
            "a Python process without a listening TCP or unix socket");
  EXPECT_EQ(NotServingReason(Facts({"/usr/sbin/nginx"}, "/usr/sbin/nginx", "nginx")), "");
}

TEST(ProcessFactsTest, ListeningSocketsOfALiveProcess) {
  int before = CountListeningSockets(getpid());
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(CountListeningSockets(getpid()), before) << "bound, not listening";
  ASSERT_EQ(listen(tcp, 4), 0);
  EXPECT_EQ(CountListeningSockets(getpid()), before + 1);
  int unix_sock = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::string path = "/tmp/stallscope-listen-test-" + std::to_string(getpid());
  unlink(path.c_str());
  snprintf(un.sun_path, sizeof(un.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(unix_sock, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  ASSERT_EQ(listen(unix_sock, 4), 0);
  EXPECT_EQ(CountListeningSockets(getpid()), before + 2);
  close(unix_sock);
  unlink(path.c_str());
  close(tcp);
  EXPECT_EQ(CountListeningSockets(getpid()), before);
  EXPECT_EQ(CountListeningSockets(999999999), 0);
}

}  // namespace
}  // namespace stallscope
