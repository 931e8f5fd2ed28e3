// SQLite backend: WAL, so the HTTP readers never block the writer, and synchronous=FULL, so
// a transaction the collector acknowledged survives a kill -9 and a power loss.
#include <sqlite3.h>
#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "output_file.h"
#include "sql_connection.h"

namespace stallscope::collector {
namespace {

class SqliteConnection : public SqlConnection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }

  absl::Status Exec(absl::string_view sql) override {
    char* error = nullptr;
    if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      absl::Status st = absl::InternalError(absl::StrCat("sqlite: ", error ? error : "error"));
      sqlite3_free(error);
      return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                            absl::Span<const SqlParam> params) override {
    absl::StatusOr<sqlite3_stmt*> stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    sqlite3_stmt* s = *stmt;
    // Reset on every exit so the cached statement holds no read transaction open.
    struct Resetter {
      sqlite3_stmt* s;
      ~Resetter() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } resetter{s};
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i) + 1;
      int rc = SQLITE_OK;
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(s, idx, *v);
      } else if (const auto* t = std::get_if<absl::string_view>(&params[i])) {
        rc = sqlite3_bind_text(s, idx, t->data(), static_cast<int>(t->size()), SQLITE_STATIC);
      } else if (const auto* b = std::get_if<SqlBlobView>(&params[i])) {
        rc = sqlite3_bind_blob(s, idx, b->bytes.data(), static_cast<int>(b->bytes.size()), SQLITE_STATIC);
      } else {
        rc = sqlite3_bind_null(s, idx);
      }
      if (rc != SQLITE_OK) return Error("bind");
    }
    std::vector<SqlRow> rows;
    while (true) {
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return Error("step");
      int n = sqlite3_column_count(s);
      SqlRow row(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(s, c)) {
          case SQLITE_INTEGER: row[c] = static_cast<int64_t>(sqlite3_column_int64(s, c)); break;
          case SQLITE_FLOAT: row[c] = static_cast<int64_t>(sqlite3_column_double(s, c)); break;
          case SQLITE_TEXT:
            row[c] = std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, c)),
                                 sqlite3_column_bytes(s, c));
            break;
          case SQLITE_BLOB: {
            const char* data = static_cast<const char*>(sqlite3_column_blob(s, c));
            row[c] = SqlBlob{std::string(data, data + sqlite3_column_bytes(s, c))};
            break;
          }
          default: break;
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

 private:
  absl::StatusOr<sqlite3_stmt*> Prepare(absl::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                           nullptr) != SQLITE_OK)
      return Error("prepare");
    statements_.emplace(std::string(sql), stmt);
    return stmt;
  }

  absl::Status Error(absl::string_view what) {
    return absl::InternalError(absl::StrCat("sqlite ", what, ": ", sqlite3_errmsg(db_)));
  }

  sqlite3* db_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlConnection>> OpenSqlite(const std::string& path, bool read_only) {
  // The file is made (or checked) the way every file the agent and collector write is: 0600,
  // not through a symlink, not in a world-writable directory where its -wal and -shm could be
  // planted (common/output_file.h). SQLite gives -wal and -shm the database file's mode.
  if (!read_only && path != ":memory:" && !path.empty() && !absl::StartsWith(path, "file:")) {
    absl::StatusOr<int> fd = OpenOutputFile(path, {.truncate = false, .private_directory = true});
    if (!fd.ok()) return absl::UnavailableError(absl::StrCat("--db: ", fd.status().message()));
    close(*fd);
  }
  sqlite3* db = nullptr;
  // NOFOLLOW: the name checked above is not swapped for a symlink before SQLite opens it.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", msg));
  }
  auto conn = std::make_unique<SqliteConnection>(db);
  sqlite3_busy_timeout(db, 10'000);
  absl::Status st = conn->Exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
      "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=16384;");
  // Readers (HTTP queries) get a smaller page cache each: memory stays bounded.
  if (st.ok() && read_only) st = conn->Exec("PRAGMA query_only=1; PRAGMA cache_size=-16384;");
  if (!st.ok()) return absl::UnavailableError(absl::StrCat("cannot use ", path, ": ", st.message()));
  return conn;
}

int64_t AsInt(const SqlValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  return 0;
}

const std::string& AsText(const SqlValue& v) {
  static const std::string kEmpty;
  if (const auto* t = std::get_if<std::string>(&v)) return *t;
  if (const auto* b = std::get_if<SqlBlob>(&v)) return b->bytes;
  return kEmpty;
}

}  // namespace stallscope::collector
