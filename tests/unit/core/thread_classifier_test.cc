#include "core/thread_classifier.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stallscope {
namespace {

struct WaitSetCase {
  std::string name;
  std::vector<FdKind> members;
  bool is_loop;
};

// Readable test names in ctest (gtest prints the parameter next to each name).
void PrintTo(const WaitSetCase& c, std::ostream* os) { *os << c.name; }

class ThreadClassifierTest : public testing::TestWithParam<WaitSetCase> {};

TEST_P(ThreadClassifierTest, WaitSetShowsEventLoop) {
  EXPECT_EQ(WaitSetShowsEventLoop(GetParam().members), GetParam().is_loop);
}

using K = FdKind;
INSTANTIATE_TEST_SUITE_P(
    ThreadClassifier, ThreadClassifierTest,
    testing::Values(
        // asyncio between clients: its listener and its self-pipe (a socketpair).
        WaitSetCase{"AsyncioIdle", {K::kTcpListener, K::kUnixUnnamed}, false},
        WaitSetCase{
            "AsyncioWithClient", {K::kTcpListener, K::kUnixUnnamed, K::kTcpConnection}, true},
        // gunicorn sync worker: select() on the listener and its wake-up pipe.
        WaitSetCase{"GunicornSyncSelect", {K::kTcpListener, K::kPipe}, false},
        // uWSGI waits on the one request socket it is serving.
        WaitSetCase{"UwsgiPollOneConnection", {K::kTcpConnection}, false},
        WaitSetCase{"UwsgiPollOneUnixConnection", {K::kUnixNamedConnection}, false},
        WaitSetCase{"Gevent", {K::kTcpListener, K::kEventFd, K::kTcpConnection}, true},
        // A client-only loop (e.g. an aiohttp crawler): no listener at all.
        WaitSetCase{"OutboundOnlyClientLoop", {K::kTcpConnection, K::kUnixUnnamed}, true},
        WaitSetCase{"TwoConnections", {K::kTcpConnection, K::kTcpConnection}, true},
        WaitSetCase{"UnixServerLoop", {K::kUnixListener, K::kUnixNamedConnection}, true},
        WaitSetCase{"OnlyListeners", {K::kTcpListener, K::kTcpListener, K::kUnixListener}, false},
        WaitSetCase{"PipesAndUnnamed", {K::kPipe, K::kUnixUnnamed, K::kEventFd}, false},
        WaitSetCase{"UdpIsNotAClientConnection", {K::kUdp, K::kEventFd}, false},
        // An fd that closed before we looked is not evidence of multiplexing.
        WaitSetCase{"ConnectionWithUnknown", {K::kTcpConnection, K::kUnknown}, false},
        WaitSetCase{"Empty", {}, false}),
    [](const testing::TestParamInfo<WaitSetCase>& info) { return info.param.name; });

}  // namespace
}  // namespace stallscope
