#include "http_api.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <google/protobuf/wire_format_lite.h>
#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "flamegraph.h"
#include "json.h"
#include "listen_check.h"
#include "query_params.h"
#include "report_index.h"
#include "web_assets.h"

namespace stallscope::collector {
namespace {

constexpr int kMaxReports = 10'000;
constexpr int kFlameGraphReports = 5'000;  // newest stalls merged into the flame graph

uint64_t NowNs() { return static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())); }

ParamLookup Params(const httplib::Request& req) {
  return [&req](absl::string_view name) -> std::optional<std::string> {
    std::string key(name);
    if (!req.has_param(key)) return std::nullopt;
    return req.get_param_value(key);
  };
}

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body, "application/json");
}

void SendError(httplib::Response& res, int status, absl::string_view message) {
  SendJson(res, status, absl::StrCat("{\"error\":", JsonString(message), "}"));
}

// A stored report as the API returns it: the Report with `agent` filled in. Printed from
// the stored bytes with `agent` (field 15) appended, which protobuf merges into the message:
// no parse and re-serialize per report.
std::string ReportJson(const StoredReport& stored) {
  static google::protobuf::util::TypeResolver* resolver = google::protobuf::util::NewTypeResolverForDescriptorPool(
      "type.googleapis.com", google::protobuf::DescriptorPool::generated_pool());
  static const std::string type_url = "type.googleapis.com/" + v1::Report::descriptor()->full_name();
  std::string bytes = stored.body;
  if (!stored.identity.empty()) {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.WriteTag(google::protobuf::internal::WireFormatLite::MakeTag(
        v1::Report::kAgentFieldNumber, google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(static_cast<uint32_t>(stored.identity.size()));
    out.WriteString(stored.identity);
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // as the agent's --format json
  std::string json;
  if (!google::protobuf::util::BinaryToJsonString(resolver, type_url, bytes, &json, options).ok()) return "null";
  return json;
}

void AppendTotals(std::string& out, const RollupRow& r, bool& first) {
  JsonKey(out, "count", first);
  absl::StrAppend(&out, r.count);
  JsonKey(out, "totalNs", first);
  absl::StrAppend(&out, r.total_ns);
  JsonKey(out, "maxNs", first);
  absl::StrAppend(&out, r.max_ns);
}

}  // namespace

HttpApi::HttpApi(Store* store, Metrics* metrics, net::ListenerSecurity* security, std::function<absl::Status()> health)
    : store_(store), metrics_(metrics), security_(security), health_(std::move(health)),
      server_(security->NewHttpServer()) {
  // Bounded work per connection: a connection is cut after 30 s whatever it sends (one that
  // sends nothing after 5 s), and one client address holds at most 8 of the 256 connection
  // threads (a blocked thread costs little memory), so it takes 32 addresses to fill them.
  net::HttpLimits limits;
  limits.max_connections = 256;
  limits.max_per_peer = 8;
  limits.max_connection_age = std::chrono::seconds(30);
  // The dashboard loads its own script and style files, and fetches the API (no inline code).
  limits.content_security_policy =
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  if (server_ == nullptr) return;  // TLS setup failed: Start says so
  // The token guards everything but /healthz, which tells nothing but up or down.
  guard_ = net::GuardHttpServer(*server_, limits, [this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/healthz" || security_->AuthorizeHttp(req, res)) return httplib::Server::HandlerResponse::Unhandled;
    return httplib::Server::HandlerResponse::Handled;
  });
  Routes();
}

HttpApi::~HttpApi() { Stop(); }

absl::StatusOr<int> HttpApi::Start(const std::string& host, int port) {
  if (server_ == nullptr) return absl::InternalError("cannot set up TLS for the HTTP server");
  absl::StatusOr<int> bound = net::BindHttpServer(*server_, host, port);
  if (!bound.ok()) return bound.status();
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return *bound;
}

void HttpApi::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpApi::Routes() {
  httplib::Server& s = *server_;
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, 500, "internal error");
  });

  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    absl::Status st = health_ ? health_() : absl::OkStatus();
    res.status = st.ok() ? 200 : 503;
    res.set_content(st.ok() ? "ok\n" : absl::StrCat(st.message(), "\n"), "text/plain");
  });

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_->Render(NowNs()), "text/plain; version=0.0.4; charset=utf-8");
  });

  s.Get("/api/v1/kinds", [](const httplib::Request&, httplib::Response& res) {
    std::string out = "{\"kinds\":[";
    for (size_t i = 0; i < ReportKinds().size(); ++i) absl::StrAppend(&out, i ? "," : "", JsonString(ReportKinds()[i]));
    SendJson(res, 200, out + "]}");
  });

  s.Get("/api/v1/reports", [this](const httplib::Request& req, httplib::Response& res) {
    auto filter = ParseFilter(Params(req), NowNs());
    if (!filter.ok()) return SendError(res, 400, filter.status().message());
    auto limit = ParseLimit(Params(req), 100, kMaxReports);
    if (!limit.ok()) return SendError(res, 400, limit.status().message());
    auto reports = store_->Reports(*filter, *limit);
    if (!reports.ok()) return SendError(res, 503, reports.status().message());
    std::string out = "{\"reports\":[";
    bool truncated = false;
    for (size_t i = 0; i < reports->size(); ++i) {
      if (out.size() > kMaxResponseBytes) {
        truncated = true;
        break;
      }
      absl::StrAppend(&out, i ? "," : "", ReportJson((*reports)[i]));
    }
    SendJson(res, 200, absl::StrCat(out, "]", truncated ? ",\"truncated\":true" : "", "}"));
  });

  // Summaries. Each takes the same filters as /reports; `kind` defaults per summary.
  auto summary = [this](const char* path, const char* default_kind, GroupBy group, const char* list_name) {
    server_->Get(path, [=, this](const httplib::Request& req, httplib::Response& res) {
      auto filter = ParseFilter(Params(req), NowNs());
      if (!filter.ok()) return SendError(res, 400, filter.status().message());
      auto limit = ParseLimit(Params(req), group == GroupBy::kBucket ? 10'000 : 20, 10'000);
      if (!limit.ok()) return SendError(res, 400, limit.status().message());
      RollupQuery q;
      q.filter = *filter;
      if (q.filter.kind.empty()) q.filter.kind = default_kind;
      q.group = group;
      q.limit = *limit;
      if (req.has_param("step")) {
        absl::Duration step;
        if (!absl::ParseDuration(req.get_param_value("step"), &step) || step < absl::Seconds(60))
          return SendError(res, 400, "step: not a duration of at least 60s (summaries are per minute)");
        q.step_ns = static_cast<uint64_t>(absl::ToInt64Nanoseconds(step));
      }
      // With a pid filter the timeline comes from the hourly rollups.
      if (group == GroupBy::kBucket && q.filter.pid)
        q.step_ns = std::max(kRollupBucketNs, q.step_ns - q.step_ns % kRollupBucketNs);
      std::string out = absl::StrCat("{\"kind\":", JsonString(q.filter.kind), ",");
      if (group == GroupBy::kBucket) absl::StrAppend(&out, "\"stepNs\":", q.step_ns, ",");
      absl::StrAppend(&out, "\"", list_name, "\":[");
      // A kind this build does not know (pool reports before they exist) has no rows.
      if (IsReportKind(q.filter.kind)) {
        auto rows = store_->Rollup(q);
        if (!rows.ok()) return SendError(res, 503, rows.status().message());
        for (size_t i = 0; i < rows->size() && out.size() <= kMaxResponseBytes; ++i) {
          const RollupRow& r = (*rows)[i];
          bool first = true;
          out += i ? ",{" : "{";
          switch (group) {
            case GroupBy::kKey:
              JsonKey(out, "site", first);
              out += JsonString(r.key);
              break;
            case GroupBy::kService:
              JsonKey(out, "service", first);
              out += JsonString(r.service);
              break;
            case GroupBy::kHost:
              JsonKey(out, "host", first);
              out += JsonString(r.host);
              break;
            case GroupBy::kProcess:
              JsonKey(out, "host", first);
              out += JsonString(r.host);
              JsonKey(out, "service", first);
              out += JsonString(r.service);
              JsonKey(out, "pid", first);
              absl::StrAppend(&out, r.pid);
              break;
            case GroupBy::kSubject:
              JsonKey(out, "service", first);
              out += JsonString(r.service);
              JsonKey(out, "host", first);
              out += JsonString(r.host);
              JsonKey(out, "pool", first);
              out += JsonString(r.key);
              break;
            case GroupBy::kBucket:
              JsonKey(out, "timeNs", first);
              absl::StrAppend(&out, r.bucket_ns);
              break;
          }
          AppendTotals(out, r, first);
          if (r.example_id != 0) {
            auto example = store_->ReportById(r.example_id);
            if (example.ok() && example->has_value()) {
              JsonKey(out, "example", first);
              out += ReportJson(**example);
            }
          }
          out += "}";
        }
      }
      SendJson(res, 200, out + "]}");
    });
  };
  summary("/api/v1/summary/sites", "loop_block", GroupBy::kKey, "sites");
  summary("/api/v1/summary/services", "loop_block", GroupBy::kService, "services");
  summary("/api/v1/summary/hosts", "loop_block", GroupBy::kHost, "hosts");
  summary("/api/v1/summary/processes", "loop_block", GroupBy::kProcess, "processes");
  summary("/api/v1/summary/pools", "pool_saturation", GroupBy::kSubject, "pools");
  summary("/api/v1/summary/timeline", "loop_block", GroupBy::kBucket, "buckets");

  s.Get("/api/v1/flamegraph", [this](const httplib::Request& req, httplib::Response& res) {
    auto filter = ParseFilter(Params(req), NowNs());
    if (!filter.ok()) return SendError(res, 400, filter.status().message());
    filter->kind = "loop_block";
    filter->final = true;
    auto reports = store_->Reports(*filter, kFlameGraphReports);
    if (!reports.ok()) return SendError(res, 503, reports.status().message());
    FlameGraph graph;
    for (const StoredReport& r : *reports) {
      v1::Report report;
      if (report.ParseFromString(r.body) && report.has_loop_block())
        graph.Add(report.loop_block().stack(), report.loop_block().duration_ns());
    }
    SendJson(res, 200, absl::StrCat("{\"stalls\":", reports->size(), ",\"root\":", graph.ToJson(), "}"));
  });

  auto asset = [this](const char* path, const char* file, const char* type) {
    server_->Get(path, [=](const httplib::Request&, httplib::Response& res) {
      absl::string_view body = WebAsset(file);
      res.set_content(body.data(), body.size(), type);
    });
  };
  asset("/", "index.html", "text/html; charset=utf-8");
  asset("/dashboard.js", "dashboard.js", "text/javascript; charset=utf-8");
  asset("/dashboard.css", "dashboard.css", "text/css; charset=utf-8");
  s.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
}

}  // namespace stallscope::collector
