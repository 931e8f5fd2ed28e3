#include "stream_flood_guard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/strings/match.h"

namespace stallscope::collector {
namespace {

std::atomic<StreamFloodGuard*> g_guard{nullptr};

bool AddressOf(const sockaddr_storage& ss, std::string* ip, int* port) {
  char buf[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    *port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    *port = ntohs(in6->sin6_port);
  } else {
    return false;
  }
  *ip = buf;
  // gRPC names an IPv4 client of a dual-stack socket by its IPv4 address.
  if (absl::StartsWith(*ip, "::ffff:") && ip->find('.') != std::string::npos) *ip = ip->substr(7);
  return true;
}

int LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  std::string ip;
  int port = 0;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || !AddressOf(ss, &ip, &port)) return -1;
  return port;
}

}  // namespace

bool SocketAddress(const void* ss, std::string* ip, int* port) {
  return AddressOf(*static_cast<const sockaddr_storage*>(ss), ip, port);
}

void StreamFloodGuard::Install() { g_guard = this; }

bool StreamFloodGuard::Banned(const std::string& ip, int local_port) {
  if (local_port != local_port_.load()) return false;
  std::lock_guard lock(mu_);
  auto ban = banned_.find(ip);
  if (ban == banned_.end() || absl::Now() >= ban->second) return false;
  ++refused_;
  return true;
}

bool ParseGrpcPeer(const std::string& peer, std::string* ip, int* port) {
  size_t colon = peer.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(peer.substr(colon + 1), port)) return false;
  std::string host;
  if (absl::StartsWith(peer, "ipv4:")) host = peer.substr(5, colon - 5);
  else if (absl::StartsWith(peer, "ipv6:[")) host = peer.substr(6, colon - 7);
  else return false;
  // Percent-encoded in gRPC's URI form (an IPv6 zone, say): not one of ours to match.
  if (host.find('%') != std::string::npos) return false;
  *ip = host;
  if (absl::StartsWith(*ip, "::ffff:") && ip->find('.') != std::string::npos) *ip = ip->substr(7);
  return true;
}

bool StreamFloodGuard::Admit(const std::string& peer, absl::Time now) {
  std::string ip;
  int port = 0;
  if (!ParseGrpcPeer(peer, &ip, &port)) return true;
  {
    std::lock_guard lock(mu_);
    auto ban = banned_.find(ip);
    bool banned = ban != banned_.end() && now < ban->second;
    if (banned && !cut_connections_.insert(peer).second) return false;  // cut already
    if (!banned) {
      if (ban != banned_.end()) banned_.erase(ban);
      if (connections_.size() >= options_.max_tracked) connections_.clear();  // forget, never grow
      Window& w = connections_[peer];
      if (w.streams == 0 || now - w.start > options_.window) w = {now, 0};
      if (++w.streams <= options_.max_streams_per_window) return true;
      connections_.erase(peer);
      if (banned_.size() >= options_.max_tracked) banned_.clear();
      if (cut_connections_.size() >= options_.max_tracked) cut_connections_.clear();
      banned_[ip] = now + options_.ban;
      cut_connections_.insert(peer);
    }
  }
  Cut(ip, port);
  return false;
}

void StreamFloodGuard::Cut(const std::string& ip, int port) {
  int local_port = local_port_.load();
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long fd = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    sockaddr_storage local{}, remote{};
    socklen_t local_len = sizeof(local), remote_len = sizeof(remote);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&remote), &remote_len) != 0) continue;
    std::string local_ip, remote_ip;
    int lport = 0, rport = 0;
    if (!AddressOf(local, &local_ip, &lport) || !AddressOf(remote, &remote_ip, &rport)) continue;
    if (lport != local_port || remote_ip != ip || (port != 0 && rport != port)) continue;
    // gRPC owns the fd; a shutdown (not a close) makes its reads fail, and it closes the
    // connection and cancels the connection's calls itself.
    if (shutdown(static_cast<int>(fd), SHUT_RDWR) == 0) ++cut_;
  }
  closedir(dir);
}

}  // namespace stallscope::collector

// gRPC's listener calls accept4(); connections from a banned address are closed here, before
// gRPC sees them. Everything else passes through unchanged.
extern "C" int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  using stallscope::collector::g_guard;
  while (true) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    int s = static_cast<int>(syscall(SYS_accept4, fd, &peer, &peer_len, flags));
    if (s < 0) return s;
    stallscope::collector::StreamFloodGuard* guard = g_guard.load();
    std::string ip;
    int port = 0;
    if (guard != nullptr && stallscope::collector::SocketAddress(&peer, &ip, &port) &&
        guard->Banned(ip, stallscope::collector::LocalPort(fd))) {
      close(s);
      continue;
    }
    if (addr != nullptr && len != nullptr) {
      socklen_t n = std::min(*len, peer_len);
      memcpy(addr, &peer, n);
      *len = peer_len;
    }
    return s;
  }
}
