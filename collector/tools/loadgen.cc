// stallscope-collector-loadgen: simulated agents for the ingest benchmark, and deliberately
// bad clients for the robustness tests.
//
//   loadgen --target HOST:PORT --agents N --reports M [--batch B] [--services S]
//       N agents stream M synthetic stall reports each; prints the rate once all are acked.
//   loadgen --target HOST:PORT --bad MODE
//       malformed | truncated | oversized | no-identity | bad-seq | silent | abort
//       prints "MODE: CODE message" with the status the collector ended the stream with.
//       poisoned: 50 reports of which seq 10 and 20 have a string that is not UTF-8, then 5
//       good ones; prints each ack ("acked_through N rejected A,B") and the final status.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "stallscope/v1/collector.pb.h"

namespace {

using namespace stallscope;
using Stream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

constexpr char kMethod[] = "/stallscope.v1.Collector/StreamReports";

// --ca/--cert/--key/--token: how this client connects (the security tests forge agents).
struct Auth {
  std::string ca, cert, key, token, agent_id;
  uint64_t seq = 1;
};
Auth g_auth;

struct Call {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream;
};

std::unique_ptr<Call> OpenCall(const std::shared_ptr<grpc::Channel>& channel) {
  auto call = std::make_unique<Call>();
  if (!g_auth.token.empty()) call->context.AddMetadata("authorization", "Bearer " + g_auth.token);
  grpc::internal::RpcMethod method(kMethod, grpc::internal::RpcMethod::BIDI_STREAMING, channel);
  call->stream.reset(grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
      channel.get(), method, &call->context));
  return call;
}


std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::shared_ptr<grpc::ChannelCredentials> Credentials() {
  if (g_auth.ca.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(g_auth.ca);
  if (!g_auth.cert.empty()) {
    ssl.pem_cert_chain = ReadFile(g_auth.cert);
    ssl.pem_private_key = ReadFile(g_auth.key);
  }
  return grpc::SslCredentials(ssl);
}

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

v1::AgentIdentity Identity(int agent, int services) {
  v1::AgentIdentity id;
  id.set_agent_id(g_auth.agent_id.empty() ? absl::StrCat("loadgen-", getpid(), "-", agent)
                                          : absl::StrCat(g_auth.agent_id, agent == 0 ? "" : absl::StrCat("-", agent)));
  id.set_host(absl::StrCat("host-", agent % 50));
  id.set_boot_id("00000000-0000-0000-0000-000000000000");
  id.set_agent_version("loadgen");
  id.set_service(absl::StrCat("service-", agent % services));
  return id;
}

// A realistic stall: Python and native frames, a blocking syscall.
v1::Report SyntheticStall(std::mt19937& rng, int agent, uint64_t now_ns) {
  static const char* kFunctions[] = {"handler",     "fetch_user", "render",     "query_db",     "load_config",
                                     "resize_img", "compute",    "call_api",   "write_audit",  "hash_password"};
  v1::Report report;
  v1::LoopBlock* b = report.mutable_loop_block();
  b->set_pid(1000 + agent % 7);
  b->set_tid(b->pid());
  b->set_comm("python3");
  b->set_process_comm("python3");
  uint64_t duration = 100'000'000 + rng() % 900'000'000;
  b->set_start_time_unix_nano(now_ns - duration - rng() % 1'000'000'000);
  b->set_duration_ns(duration);
  b->set_on_cpu_ns(duration / 10);
  b->set_off_cpu_ns(duration - duration / 10);
  b->set_wait("epoll_wait fd 6");
  b->set_stack_kind("blocking-syscall");
  b->set_seq(static_cast<uint32_t>(rng()));
  v1::SyscallStat* call = b->add_syscalls();
  call->set_name("recvfrom");
  call->set_fd(11);
  call->set_target("tcp 127.0.0.1:40426 -> 127.0.0.1:5432");
  call->set_total_ns(duration - duration / 10);
  call->set_count(1);
  for (const char* native : {"recv", "sock_recv_impl"}) {
    v1::Frame* f = b->add_stack();
    f->set_kind(v1::Frame::NATIVE);
    f->set_function(native);
    f->set_module("libc.so.6");
    f->set_address(0x7f0000000000 + rng() % 4096);
  }
  int site = rng() % 40;
  for (int depth = 0; depth < 5; ++depth) {
    v1::Frame* f = b->add_stack();
    f->set_kind(v1::Frame::PYTHON);
    f->set_function(absl::StrCat(kFunctions[(site + depth) % 10], depth == 0 ? absl::StrCat("_", site) : ""));
    f->set_file(absl::StrCat("/srv/app/module_", (site + depth) % 10, ".py"));
    f->set_line(10 + (site * 7 + depth) % 300);
  }
  return report;
}

void AppendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

int RunLoad(const std::string& target, int agents, int reports, int batch, int services) {
  std::vector<std::string> pool;
  std::mt19937 pool_rng(42);
  for (int i = 0; i < 4096; ++i) pool.push_back(SyntheticStall(pool_rng, i, NowNs()).SerializeAsString());
  constexpr uint64_t kHistoryNs = 6 * 3600 * 1'000'000'000ULL;
  const uint64_t history_start = NowNs() - kHistoryNs;
  std::atomic<uint64_t> acked{0};
  std::atomic<int> failures{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a) {
    threads.emplace_back([&, a] {
      grpc::ChannelArguments args;
      args.SetMaxSendMessageSize(8 << 20);
      args.SetString("loadgen.agent", absl::StrCat(a));  // one connection per simulated agent
      auto channel = grpc::CreateCustomChannel(target, Credentials(), args);
      auto call = OpenCall(channel);
      v1::AgentMessage hello;
      *hello.mutable_identity() = Identity(a, services);
      if (!call->stream->Write(Bytes(hello.SerializeAsString()))) {
        ++failures;
        return;
      }
      std::atomic<uint64_t> last_ack{0};
      std::thread reader([&] {
        grpc::ByteBuffer in;
        while (call->stream->Read(&in)) {
          std::vector<grpc::Slice> slices;
          in.Dump(&slices).IgnoreError();
          std::string bytes;
          for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
          v1::CollectorMessage ack;
          if (ack.ParseFromString(bytes)) last_ack = ack.acked_through();
        }
      });
      // Messages are assembled from pre-serialized reports, so the generator costs little
      // CPU next to the collector on the same machine.
      // --seq N: this run continues an agent's stream at seq N.
      const uint64_t first = g_auth.seq - 1, end = first + static_cast<uint64_t>(reports);
      uint64_t seq = first;
      while (seq < end) {
        std::string message;
        for (int i = 0; i < batch && seq < end; ++i) {
          // Each agent's stalls are in time order over the last 6 hours: the pooled report
          // plus a second loop_block field holding only start_time, which protobuf merges.
          std::string report = pool[(a * 7919 + seq) % pool.size()];
          std::string time_field;
          AppendVarint(time_field, 0x20);  // LoopBlock.start_time_unix_nano
          AppendVarint(time_field, history_start + kHistoryNs * (seq - first) / reports);
          AppendVarint(report, 0x0a);  // Report.loop_block
          AppendVarint(report, time_field.size());
          report += time_field;
          std::string sr;
          AppendVarint(sr, 0x08);
          AppendVarint(sr, ++seq);
          AppendVarint(sr, 0x12);
          AppendVarint(sr, report.size());
          sr += report;
          AppendVarint(message, 0x12);  // AgentMessage.reports
          AppendVarint(message, sr.size());
          message += sr;
        }
        if (!call->stream->Write(Bytes(message))) break;
      }
      while (last_ack < seq && std::chrono::steady_clock::now() - start < std::chrono::minutes(10))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      acked += last_ack > first ? last_ack - first : 0;
      call->stream->WritesDone();
      reader.join();
      grpc::Status st = call->stream->Finish();
      if (!st.ok() || last_ack < seq) {
        ++failures;
        fprintf(stderr, "agent %d: %s (acked %llu of %llu)\n", a, st.error_message().c_str(),
                static_cast<unsigned long long>(last_ack.load()), static_cast<unsigned long long>(seq));
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("{\"agents\": %d, \"reports\": %llu, \"seconds\": %.3f, \"reports_per_second\": %.0f, \"failures\": %d}\n",
         agents, static_cast<unsigned long long>(acked.load()), seconds, acked.load() / seconds, failures.load());
  return failures.load() == 0 ? 0 : 1;
}

int RunBad(const std::string& target, const std::string& mode) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(target, Credentials(), args);
  auto call = OpenCall(channel);
  std::mt19937 rng(1);
  v1::AgentMessage hello;
  *hello.mutable_identity() = Identity(9999, 1);
  hello.mutable_identity()->set_agent_id(absl::StrCat("bad-", mode, "-", getpid()));
  v1::AgentMessage reports;
  for (int i = 1; i <= 50; ++i) {
    v1::SequencedReport* sr = reports.add_reports();
    sr->set_seq(i);
    *sr->mutable_report() = SyntheticStall(rng, 1, NowNs());
  }
  if (mode == "malformed") {
    call->stream->Write(Bytes(std::string("\xff\xff\xff\xff\x0f garbage that is not protobuf", 32)));
  } else if (mode == "truncated") {
    *reports.mutable_identity() = hello.identity();
    std::string bytes = reports.SerializeAsString();
    call->stream->Write(Bytes(bytes.substr(0, bytes.size() / 2)));
  } else if (mode == "oversized") {
    *reports.mutable_identity() = hello.identity();
    reports.mutable_reports(0)->mutable_report()->mutable_loop_block()->set_comm(std::string(6 << 20, 'x'));
    call->stream->Write(Bytes(reports.SerializeAsString()));
  } else if (mode == "no-identity") {
    call->stream->Write(Bytes(reports.SerializeAsString()));
  } else if (mode == "bad-seq") {
    *reports.mutable_identity() = hello.identity();
    reports.mutable_reports(10)->set_seq(3);
    call->stream->Write(Bytes(reports.SerializeAsString()));
  } else if (mode == "hijack" || mode == "future" || mode == "past") {
    // One report under --agent-id with --seq: a stream claiming another agent's identity, or
    // a report dated a day ahead (or 30 days back) that retention would never remove.
    if (!g_auth.agent_id.empty()) hello.mutable_identity()->set_agent_id(g_auth.agent_id);
    v1::AgentMessage one;
    *one.mutable_identity() = hello.identity();
    v1::SequencedReport* sr = one.add_reports();
    sr->set_seq(g_auth.seq);
    *sr->mutable_report() = SyntheticStall(rng, 1, NowNs());
    constexpr uint64_t kDayNs = 24 * 3600 * 1'000'000'000ULL;
    if (mode == "future") sr->mutable_report()->mutable_loop_block()->set_start_time_unix_nano(NowNs() + kDayNs);
    if (mode == "past") sr->mutable_report()->mutable_loop_block()->set_start_time_unix_nano(NowNs() - 30 * kDayNs);
    call->stream->Write(Bytes(one.SerializeAsString()));
    grpc::ByteBuffer ack;
    if (call->stream->Read(&ack)) {
      std::vector<grpc::Slice> slices;
      ack.Dump(&slices).IgnoreError();
      std::string bytes;
      for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      v1::CollectorMessage m;
      if (m.ParseFromString(bytes)) printf("acked_through %llu\n", static_cast<unsigned long long>(m.acked_through()));
      call->stream->WritesDone();
    }
  } else if (mode == "poisoned") {
    // What an agent sent before target strings were made safe: a thread name of raw bytes.
    *reports.mutable_identity() = hello.identity();
    for (int i : {9, 19}) reports.mutable_reports(i)->mutable_report()->mutable_loop_block()->set_comm("\xff\xfe\x1b]0;x\x07");
    v1::AgentMessage more;
    for (int i = 51; i <= 55; ++i) {
      v1::SequencedReport* sr = more.add_reports();
      sr->set_seq(i);
      *sr->mutable_report() = SyntheticStall(rng, 1, NowNs());
    }
    for (const v1::AgentMessage* m : {&reports, &more}) {
      call->stream->Write(Bytes(m->SerializeAsString()));
      grpc::ByteBuffer ack;
      if (!call->stream->Read(&ack)) break;
      std::vector<grpc::Slice> slices;
      ack.Dump(&slices).IgnoreError();
      std::string bytes;
      for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      v1::CollectorMessage a;
      if (!a.ParseFromString(bytes)) break;
      printf("acked_through %llu rejected %s\n", static_cast<unsigned long long>(a.acked_through()),
             absl::StrJoin(a.rejected_seqs(), ",").c_str());
    }
    call->stream->WritesDone();
  } else if (mode == "silent") {
    // Sends nothing at all; the collector must close the stream by itself.
  } else if (mode == "abort") {
    // Dies in the middle of sending a large message: the connection drops mid-message.
    *reports.mutable_identity() = hello.identity();
    reports.mutable_reports(0)->mutable_report()->mutable_loop_block()->set_comm(std::string(3 << 20, 'x'));
    std::thread writer([&] { call->stream->Write(Bytes(reports.SerializeAsString())); });
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    printf("abort: exiting mid-message\n");
    fflush(stdout);
    _exit(0);
  } else {
    fprintf(stderr, "unknown --bad mode '%s'\n", mode.c_str());
    return 2;
  }
  grpc::ByteBuffer in;
  while (call->stream->Read(&in)) {
  }
  grpc::Status st = call->stream->Finish();
  printf("%s: %d %s\n", mode.c_str(), static_cast<int>(st.error_code()), st.error_message().c_str());
  if (mode == "future" || mode == "past" || mode == "poisoned") return st.ok() ? 0 : 1;
  return st.ok() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:7700", bad;
  int agents = 4, reports = 10'000, batch = 500, services = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    bool ok = true;
    if (flag == "--target") target = value;
    else if (flag == "--bad") bad = value;
    else if (flag == "--agents") ok = absl::SimpleAtoi(value, &agents);
    else if (flag == "--reports") ok = absl::SimpleAtoi(value, &reports);
    else if (flag == "--batch") ok = absl::SimpleAtoi(value, &batch);
    else if (flag == "--services") ok = absl::SimpleAtoi(value, &services);
    else if (flag == "--ca") g_auth.ca = value;
    else if (flag == "--cert") g_auth.cert = value;
    else if (flag == "--key") g_auth.key = value;
    else if (flag == "--token") g_auth.token = value;
    else if (flag == "--agent-id") g_auth.agent_id = value;
    else if (flag == "--seq") ok = absl::SimpleAtoi(value, &g_auth.seq);
    else ok = false;
    if (!ok || agents < 1 || batch < 1 || services < 1) {
      fprintf(stderr, "usage: %s --target HOST:PORT [--ca F [--cert F --key F]] [--token T]\n"
              "          [--agents N --reports M --batch B --services S | --bad MODE [--agent-id ID --seq N]]\n",
              argv[0]);
      return 2;
    }
  }
  if (!bad.empty()) return RunBad(target, bad);
  return RunLoad(target, agents, reports, batch, services);
}
