// One listener setup for every server stallscope runs: the collector's gRPC and HTTP servers
// and the daemon's ops port. It holds the TLS files (`--tls-cert/--tls-key`, re-read on SIGHUP
// and when they change, as cert-manager rotates them), the CA for client certificates
// (`--client-ca`), the tokens (`--token-file`), and answers who a caller is:
//   gRPC: the verified client certificate's CN (else its first DNS SAN), or the NAME of the
//         `authorization: Bearer TOKEN` it sent; never anything else the client says;
//   HTTP: the token as `Authorization: Bearer` or as the basic-auth password (browsers prompt).
// gRPC takes only tokens with the ingest role (and client certificates: the agents'); HTTP only
// tokens with the read role. Every file goes through ReadCredentialFile (owner and mode), at
// start and at every reload.
// And the rule that a non-loopback address needs TLS and authentication unless --insecure.
#ifndef STALLSCOPE_NET_LISTENER_SECURITY_H_
#define STALLSCOPE_NET_LISTENER_SECURITY_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "token_file.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace stallscope::net {

struct ListenerSecurityOptions {
  std::string tls_cert, tls_key;  // both or neither
  std::string client_ca;          // "" = no client certificates
  std::string token_file;         // "" = no tokens
  unsigned token_default_roles = kRoleIngest;  // of a token line without roles (token_file.h)
  bool insecure = false;          // allow a non-loopback address without TLS + authentication
  // Off loopback, authentication alone will do (no TLS): the daemon's ops port, whose only
  // guarded page is /metrics and whose callers a NetworkPolicy names.
  bool tls_optional = false;
  std::string realm = "stallscope";
};

// A loaded certificate and key for the HTTP side (OpenSSL objects, reference counted).
struct TlsIdentity;

class ListenerSecurity {
 public:
  static absl::StatusOr<std::unique_ptr<ListenerSecurity>> Create(const ListenerSecurityOptions& options);
  ~ListenerSecurity();

  bool tls() const { return !options_.tls_cert.empty(); }
  bool authenticates() const { return !options_.client_ca.empty() || !options_.token_file.empty(); }

  // OK for a loopback host; otherwise needs TLS and authentication, or --insecure.
  // `host` "" means every address. `what` names the listener in the error.
  // For HTTP, authentication means tokens (client certificates are the agents').
  absl::Status CheckListenAddress(const std::string& what, const std::string& host, bool http) const;

  // TLS (certificate and client CA watched by gRPC's file watcher) or plaintext.
  std::shared_ptr<grpc::ServerCredentials> GrpcCredentials() const;
  // The caller's principal ("" when nothing is configured), or UNAUTHENTICATED saying why.
  grpc::Status GrpcPrincipal(const grpc::ServerContextBase& context, std::string* principal) const;

  // A cpp-httplib server, over TLS when configured (the certificate is picked per handshake,
  // so a reload applies to new connections at once), whose sockets refuse a taken port (no
  // SO_REUSEPORT). Bind it with BindHttpServer (listen_check.h). nullptr when TLS setup fails.
  std::unique_ptr<httplib::Server> NewHttpServer();
  // True when the request may proceed (always, with no tokens configured); else answers 401
  // with WWW-Authenticate, so a browser asks for the token as a password, or 403 for a token
  // without the read role.
  bool AuthorizeHttp(const httplib::Request& req, httplib::Response& res) const;
  bool http_tokens() const;

  // Re-reads the TLS files and the token file; on an error the old ones stay in force.
  absl::Status Reload();
  // Polls the files every `interval` and reloads when one changed (cert-manager rotation).
  void WatchFiles(std::chrono::seconds interval);

  // Reloads done and failed (for /metrics).
  uint64_t reloads() const { return reloads_.load(); }
  uint64_t reload_errors() const { return reload_errors_.load(); }

 private:
  explicit ListenerSecurity(ListenerSecurityOptions options);
  std::string FilesStamp() const;
  void Watch(std::chrono::seconds interval);

  const ListenerSecurityOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<const TokenFile> tokens_;
  std::shared_ptr<const TlsIdentity> identity_;
  std::string stamp_;
  std::atomic<uint64_t> reloads_{0}, reload_errors_{0};
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread watcher_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_LISTENER_SECURITY_H_
