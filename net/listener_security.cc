#include "listener_security.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "credential_file.h"
#include "listen_check.h"

namespace stallscope::net {

// The certificate chain and key the HTTP side presents, swapped whole on a reload.
struct TlsIdentity {
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  EVP_PKEY* key = nullptr;
  ~TlsIdentity() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

namespace {

// gRPC re-reads the files on this period (its file watcher: the one way gRPC 1.51's public
// API offers to change a running server's certificate); the HTTP side and the tokens follow
// the same period, and SIGHUP reloads those at once.
constexpr unsigned kGrpcRefreshSeconds = 2;

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return e == 0 ? "unknown error" : buf;
}

// A PEM file read under the owner and mode rules, as a memory BIO.
absl::StatusOr<BIO*> PemBio(const std::string& path, const char* flag, Credential kind) {
  absl::StatusOr<std::string> text = ReadCredentialFile(path, flag, kind);
  if (!text.ok()) return text.status();
  BIO* bio = BIO_new(BIO_s_mem());
  BIO_write(bio, text->data(), static_cast<int>(text->size()));
  OPENSSL_cleanse(text->data(), text->size());
  return bio;
}

absl::StatusOr<std::shared_ptr<const TlsIdentity>> LoadIdentity(const std::string& cert_path,
                                                                const std::string& key_path) {
  auto id = std::make_shared<TlsIdentity>();
  absl::StatusOr<BIO*> bio = PemBio(cert_path, "--tls-cert", Credential::kPublic);
  if (!bio.ok()) return bio.status();
  id->cert = PEM_read_bio_X509(*bio, nullptr, nullptr, nullptr);
  id->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(*bio, nullptr, nullptr, nullptr)) sk_X509_push(id->chain, extra);
  ERR_clear_error();  // the end of the file reads as an error
  BIO_free(*bio);
  if (id->cert == nullptr) return absl::InvalidArgumentError(absl::StrCat(cert_path, ": no PEM certificate"));
  bio = PemBio(key_path, "--tls-key", Credential::kSecret);
  if (!bio.ok()) return bio.status();
  id->key = PEM_read_bio_PrivateKey(*bio, nullptr, nullptr, nullptr);
  BIO_free(*bio);
  if (id->key == nullptr) return absl::InvalidArgumentError(absl::StrCat(key_path, ": no PEM private key"));
  if (X509_check_private_key(id->cert, id->key) != 1)
    return absl::InvalidArgumentError(absl::StrCat(key_path, " is not the key of ", cert_path, ": ", OpenSslError()));
  return std::shared_ptr<const TlsIdentity>(std::move(id));
}

absl::Status CheckReadablePem(const std::string& path, const char* flag) {
  absl::StatusOr<BIO*> bio = PemBio(path, flag, Credential::kPublic);
  if (!bio.ok()) return bio.status();
  X509* cert = PEM_read_bio_X509(*bio, nullptr, nullptr, nullptr);
  BIO_free(*bio);
  ERR_clear_error();
  if (cert == nullptr) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": no PEM certificate"));
  X509_free(cert);
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

ListenerSecurity::ListenerSecurity(ListenerSecurityOptions options) : options_(std::move(options)) {}

ListenerSecurity::~ListenerSecurity() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

absl::StatusOr<std::unique_ptr<ListenerSecurity>> ListenerSecurity::Create(const ListenerSecurityOptions& options) {
  if (options.tls_cert.empty() != options.tls_key.empty())
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  if (!options.client_ca.empty() && options.tls_cert.empty())
    return absl::InvalidArgumentError("--client-ca needs --tls-cert and --tls-key (client certificates need TLS)");
  if (!options.client_ca.empty()) {
    if (absl::Status st = CheckReadablePem(options.client_ca, "--client-ca"); !st.ok()) return st;
  }
  std::unique_ptr<ListenerSecurity> s(new ListenerSecurity(options));
  if (absl::Status st = s->Reload(); !st.ok()) return st;
  s->reloads_ = 0;
  return s;
}

absl::Status ListenerSecurity::Reload() {
  std::string stamp = FilesStamp();
  std::shared_ptr<const TokenFile> tokens;
  std::shared_ptr<const TlsIdentity> identity;
  absl::Status st;
  if (!options_.token_file.empty()) {
    auto loaded = TokenFile::Load(options_.token_file, options_.token_default_roles);
    if (loaded.ok()) tokens = std::make_shared<const TokenFile>(std::move(*loaded));
    else st = loaded.status();
  }
  if (st.ok() && tls()) {
    auto loaded = LoadIdentity(options_.tls_cert, options_.tls_key);
    if (loaded.ok()) identity = std::move(*loaded);
    else st = loaded.status();
  }
  std::lock_guard lock(mu_);
  stamp_ = stamp;
  if (!st.ok()) {
    ++reload_errors_;
    return st;
  }
  tokens_ = std::move(tokens);
  identity_ = std::move(identity);
  ++reloads_;
  return absl::OkStatus();
}

std::string ListenerSecurity::FilesStamp() const {
  std::string stamp;
  for (const std::string* path : {&options_.tls_cert, &options_.tls_key, &options_.token_file}) {
    struct stat st;
    if (path->empty() || stat(path->c_str(), &st) != 0) {
      stamp += "-;";
      continue;
    }
    // Owner and mode too: a file made writable by others is refused at once, not at its next edit.
    absl::StrAppend(&stamp, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":",
                    st.st_uid, ":", st.st_mode, ";");
  }
  return stamp;
}

void ListenerSecurity::WatchFiles(std::chrono::seconds interval) {
  if (options_.token_file.empty() && !tls()) return;
  watcher_ = std::thread([this, interval] { Watch(interval); });
}

void ListenerSecurity::Watch(std::chrono::seconds interval) {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    std::string stamp = stamp_;
    lock.unlock();
    if (FilesStamp() != stamp) {
      absl::Status st = Reload();
      if (!st.ok()) fprintf(stderr, "stallscope: reloading TLS/token files: %s (keeping the old ones)\n",
                            std::string(st.message()).c_str());
    }
    lock.lock();
  }
}

absl::Status ListenerSecurity::CheckListenAddress(const std::string& what, const std::string& host,
                                                  bool http) const {
  bool authenticated = http ? !options_.token_file.empty() : authenticates();
  if (IsLoopbackHost(host) || options_.insecure || ((tls() || options_.tls_optional) && authenticated))
    return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to serve ", what, " on ", host.empty() ? "every address" : host, " without ",
      options_.tls_optional ? "" : "TLS (--tls-cert/--tls-key) and ",
      http ? "tokens (--token-file)" : "authentication (--client-ca or --token-file)",
      "; listen on 127.0.0.1, or pass --insecure"));
}

std::shared_ptr<grpc::ServerCredentials> ListenerSecurity::GrpcCredentials() const {
  if (!tls()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options_.tls_key, options_.tls_cert, options_.client_ca, kGrpcRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls_options(provider);
  tls_options.watch_identity_key_cert_pairs();
  if (!options_.client_ca.empty()) {
    tls_options.watch_root_certs();
    // Verified when presented; a missing one is refused per call, with a clear status, so
    // token-carrying agents share the port.
    tls_options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls_options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls_options);
}

grpc::Status ListenerSecurity::GrpcPrincipal(const grpc::ServerContextBase& context, std::string* principal) const {
  if (!authenticates()) {
    principal->clear();
    return grpc::Status::OK;
  }
  // A verified client certificate (the TLS handshake already checked it against --client-ca).
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!options_.client_ca.empty() && auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_PEER_DNS_PROPERTY_NAME}) {
      std::vector<grpc::string_ref> values = auth->FindPropertyValues(property);
      if (!values.empty() && values[0].size() > 0) {
        *principal = std::string(values[0].data(), values[0].size());
        return grpc::Status::OK;
      }
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the client certificate has no CN and no DNS name");
  }
  std::shared_ptr<const TokenFile> tokens;
  {
    std::lock_guard lock(mu_);
    tokens = tokens_;
  }
  auto header = context.client_metadata().find("authorization");
  if (tokens == nullptr || header == context.client_metadata().end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        options_.client_ca.empty() ? "no bearer token (the collector needs --collector-token-file)"
                        : tokens == nullptr       ? "no client certificate (the collector needs --tls-cert/--tls-key)"
                                                  : "neither a client certificate nor a bearer token");
  }
  absl::string_view value(header->second.data(), header->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer "))
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "authorization is not 'Bearer TOKEN'");
  std::optional<TokenPrincipal> found = tokens->Lookup(value);
  if (!found) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the bearer token is not known to the collector");
  if (!(found->roles & kRoleIngest))
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("the token of '", found->name, "' may not send reports (it has no ingest role)"));
  *principal = found->name;
  return grpc::Status::OK;
}

std::unique_ptr<httplib::Server> ListenerSecurity::NewHttpServer() {
  if (!tls()) {
    auto server = std::make_unique<httplib::Server>();
    server->set_socket_options(SetListenSocketOptions);  // no SO_REUSEPORT: a taken port is refused
    return server;
  }
  // The certificate is chosen per handshake from the identity in force, so a reload reaches
  // the next connection without touching the shared SSL_CTX.
  auto server = std::make_unique<httplib::SSLServer>([this](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_client_hello_cb(
        &ctx,
        [](SSL* ssl, int* alert, void* arg) -> int {
          auto* self = static_cast<ListenerSecurity*>(arg);
          std::shared_ptr<const TlsIdentity> id;
          {
            std::lock_guard lock(self->mu_);
            id = self->identity_;
          }
          if (id == nullptr || SSL_use_cert_and_key(ssl, id->cert, id->key, id->chain, 1) != 1) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
          }
          return SSL_CLIENT_HELLO_SUCCESS;
        },
        this);
    return true;
  });
  if (!server->is_valid()) return nullptr;
  server->set_socket_options(SetListenSocketOptions);
  return server;
}

bool ListenerSecurity::http_tokens() const { return !options_.token_file.empty(); }

bool ListenerSecurity::AuthorizeHttp(const httplib::Request& req, httplib::Response& res) const {
  if (options_.token_file.empty()) return true;
  std::shared_ptr<const TokenFile> tokens;
  {
    std::lock_guard lock(mu_);
    tokens = tokens_;
  }
  std::string header = req.get_header_value("Authorization");
  absl::string_view value = header;
  std::string token;
  if (absl::ConsumePrefix(&value, "Bearer ")) {
    token = std::string(value);
  } else if (absl::ConsumePrefix(&value, "Basic ")) {
    std::string decoded;
    if (absl::Base64Unescape(value, &decoded)) {
      size_t colon = decoded.find(':');
      if (colon != std::string::npos) token = decoded.substr(colon + 1);  // the password
    }
  }
  std::optional<TokenPrincipal> found;
  if (tokens != nullptr && !token.empty()) found = tokens->Lookup(token);
  if (found && (found->roles & kRoleRead)) return true;
  if (found) {
    // An agent's token: it sends reports and reads nothing, so one compromised node cannot
    // read the whole fleet.
    res.status = 403;
    res.set_content("this token may not read (it has no read role)\n", "text/plain");
    return false;
  }
  res.status = 401;
  res.set_header("WWW-Authenticate", absl::StrCat("Basic realm=\"", options_.realm, "\", charset=\"UTF-8\""));
  res.set_content(header.empty() ? "authentication required: a token as Bearer or as the basic-auth password\n"
                                 : "the token is not known\n",
                  "text/plain");
  return false;
}

}  // namespace stallscope::net
