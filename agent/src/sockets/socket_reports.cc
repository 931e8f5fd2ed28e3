#include "sockets/socket_reports.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace stallscope {
namespace {

std::string Host(const ss_sock_addr& a, const uint8_t* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.family == AF_INET6) {
    inet_ntop(AF_INET6, addr, text, sizeof(text));
    return absl::StrCat("[", text, "]");
  }
  inet_ntop(AF_INET, addr, text, sizeof(text));
  return text;
}

uint64_t Percentile(std::vector<uint64_t> v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

}  // namespace

v1::SocketLifetime SocketLifetimeFromEvent(const ss_socket_event& e,
                                           const std::function<uint64_t(uint64_t)>& to_unix_ns) {
  v1::SocketLifetime s;
  bool inbound = e.flags & SS_SOCK_INBOUND;
  s.set_pid(e.hdr.tgid);
  s.set_tid(e.hdr.tid);
  s.set_direction(inbound ? v1::SocketLifetime::INBOUND : v1::SocketLifetime::OUTBOUND);
  s.set_local_address(absl::StrCat(Host(e.addr, e.addr.saddr), ":", e.addr.sport));
  s.set_remote_address(absl::StrCat(Host(e.addr, e.addr.daddr), ":", e.addr.dport));
  s.set_start_time_unix_nano(to_unix_ns(e.open_ns));
  s.set_duration_ns(e.hdr.ts_ns > e.open_ns ? e.hdr.ts_ns - e.open_ns : 0);
  s.set_bytes_in(e.bytes_in);
  s.set_bytes_out(e.bytes_out);
  if (!inbound && (e.flags & SS_SOCK_ESTABLISHED) && e.established_ns > e.open_ns)
    s.set_connect_latency_ns(e.established_ns - e.open_ns);
  s.set_accepted(inbound && (e.flags & SS_SOCK_ACCEPTED));
  if (s.accepted() && e.accept_ns > e.established_ns) s.set_accept_wait_ns(e.accept_ns - e.established_ns);
  if (e.flags & SS_SOCK_RESET_RECEIVED)
    s.set_end(v1::SocketLifetime::RESET_RECEIVED);
  else if (e.flags & SS_SOCK_RESET_SENT)
    s.set_end(v1::SocketLifetime::RESET_SENT);
  else if (!(e.flags & SS_SOCK_ESTABLISHED))
    s.set_end(v1::SocketLifetime::NEVER_ESTABLISHED);
  else
    s.set_end(v1::SocketLifetime::CLOSED);
  return s;
}

std::string EndpointOf(const v1::SocketLifetime& s) {
  if (s.direction() == v1::SocketLifetime::OUTBOUND) return absl::StrCat("to ", s.remote_address());
  std::string host = s.remote_address().substr(0, s.remote_address().rfind(':'));
  std::string port = s.local_address().substr(s.local_address().rfind(':') + 1);
  return absl::StrCat("from ", host, " to :", port);
}

void EndpointSummary::Add(const v1::SocketLifetime& s) {
  std::string key = EndpointOf(s);
  if (!durations_.contains(key) && durations_.size() >= kMaxEndpoints) return;
  std::vector<uint64_t>& d = durations_[key];
  counts_[key] += 1;
  if (s.end() == v1::SocketLifetime::RESET_RECEIVED || s.end() == v1::SocketLifetime::RESET_SENT)
    resets_[key] += 1;
  if (d.size() < kMaxSamplesPerEndpoint) d.push_back(s.duration_ns());
}

std::vector<EndpointSummary::Row> EndpointSummary::Rows(size_t limit) const {
  std::vector<Row> rows;
  for (const auto& [key, d] : durations_) {
    Row r;
    r.endpoint = key;
    r.count = counts_.at(key);
    r.p50_ns = Percentile(d, 0.50);
    r.p99_ns = Percentile(d, 0.99);
    r.max_ns = *std::max_element(d.begin(), d.end());
    auto resets = resets_.find(key);
    r.resets = resets == resets_.end() ? 0 : resets->second;
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.count != b.count ? a.count > b.count : a.endpoint < b.endpoint;
  });
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

}  // namespace stallscope
