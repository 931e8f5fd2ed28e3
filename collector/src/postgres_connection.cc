// PostgreSQL backend (libpq), so several collector replicas behind one Kubernetes Service
// share one store. Parameters go as text, blobs as binary; results come back as text.
#include <libpq-fe.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sql_connection.h"

namespace stallscope::collector {
namespace {

// Type OIDs from PostgreSQL's catalog (pg_type.dat), stable since forever.
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kNumericOid = 1700;

// "?" placeholders -> "$1", "$2", ... (the store's SQL has no "?" inside literals).
std::string NumberPlaceholders(absl::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char c : sql) {
    if (c == '?') absl::StrAppend(&out, "$", ++n);
    else out.push_back(c);
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}

// bytea in text format is "\x" followed by hex digits.
std::string DecodeBytea(const char* text, int len) {
  std::string out;
  if (len < 2 || text[0] != '\\' || text[1] != 'x') return std::string(text, len);
  out.reserve((len - 2) / 2);
  for (int i = 2; i + 1 < len; i += 2) out.push_back(static_cast<char>(HexValue(text[i]) * 16 + HexValue(text[i + 1])));
  return out;
}

class PostgresConnection : public SqlConnection {
 public:
  explicit PostgresConnection(PGconn* conn) : conn_(conn) {}
  ~PostgresConnection() override { PQfinish(conn_); }

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }

  absl::Status Exec(absl::string_view sql) override {
    Reconnect();
    PGresult* res = PQexec(conn_, std::string(sql).c_str());
    absl::Status st = Check(res);
    PQclear(res);
    return st;
  }

  absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                            absl::Span<const SqlParam> params) override {
    Reconnect();
    std::string text = NumberPlaceholders(sql);
    std::vector<std::string> storage(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    std::vector<int> lengths(params.size(), 0);
    std::vector<int> formats(params.size(), 0);
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        storage[i] = absl::StrCat(*v);
        values[i] = storage[i].c_str();
      } else if (const auto* t = std::get_if<absl::string_view>(&params[i])) {
        storage[i] = std::string(*t);  // libpq wants NUL-terminated text
        values[i] = storage[i].c_str();
      } else if (const auto* b = std::get_if<SqlBlobView>(&params[i])) {
        values[i] = b->bytes.data();
        lengths[i] = static_cast<int>(b->bytes.size());
        formats[i] = 1;
      }
    }
    PGresult* res = PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                 lengths.data(), formats.data(), 0);
    absl::Status st = Check(res);
    if (!st.ok()) {
      PQclear(res);
      return st;
    }
    std::vector<SqlRow> rows;
    int nrows = PQntuples(res), ncols = PQnfields(res);
    rows.reserve(nrows);
    for (int r = 0; r < nrows; ++r) {
      SqlRow row(ncols);
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(res, r, c)) continue;
        const char* v = PQgetvalue(res, r, c);
        int len = PQgetlength(res, r, c);
        switch (PQftype(res, c)) {
          case kInt2Oid:
          case kInt4Oid:
          case kInt8Oid:
          case kNumericOid: {
            int64_t i = 0;
            double d = 0;
            if (!absl::SimpleAtoi(absl::string_view(v, len), &i) && absl::SimpleAtod(absl::string_view(v, len), &d))
              i = static_cast<int64_t>(d);
            row[c] = i;
            break;
          }
          case kByteaOid: row[c] = SqlBlob{DecodeBytea(v, len)}; break;
          default: row[c] = std::string(v, len);
        }
      }
      rows.push_back(std::move(row));
    }
    PQclear(res);
    return rows;
  }

 private:
  // A server restart or a dropped connection: reconnect before the next statement; the
  // statement that failed already returned its error (and its transaction is gone).
  void Reconnect() {
    if (PQstatus(conn_) == CONNECTION_BAD) PQreset(conn_);
  }

  absl::Status Check(PGresult* res) {
    ExecStatusType s = PQresultStatus(res);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return absl::OkStatus();
    std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn_);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return absl::UnavailableError(absl::StrCat("postgresql: ", msg));
  }

  PGconn* conn_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlConnection>> OpenPostgres(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", msg));
  }
  auto c = std::make_unique<PostgresConnection>(conn);
  // Quiet the "relation already exists, skipping" notices of idempotent schema statements.
  if (absl::Status st = c->Exec("SET client_min_messages = warning"); !st.ok()) return st;
  return c;
}

}  // namespace stallscope::collector
