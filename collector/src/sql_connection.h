// The storage backends behind one small interface: a connection that runs parameterized SQL.
// The store's SQL is shared (SQLite >= 3.35 and PostgreSQL both take `ON CONFLICT` upserts
// and `RETURNING`); placeholders are written `?` and rewritten for PostgreSQL.
#ifndef STALLSCOPE_COLLECTOR_SQL_CONNECTION_H_
#define STALLSCOPE_COLLECTOR_SQL_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace stallscope::collector {

// Results own their values.
struct SqlBlob {
  std::string bytes;
};
using SqlValue = std::variant<std::monostate, int64_t, std::string, SqlBlob>;
using SqlRow = std::vector<SqlValue>;

// Parameters only point at the caller's strings: nothing is copied per inserted row.
struct SqlBlobView {
  absl::string_view bytes;
};
using SqlParam = std::variant<std::monostate, int64_t, absl::string_view, SqlBlobView>;

// NULL reads as 0 / "".
int64_t AsInt(const SqlValue& v);
const std::string& AsText(const SqlValue& v);  // text or blob bytes

enum class SqlDialect { kSqlite, kPostgres };

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual SqlDialect dialect() const = 0;
  // Statements without parameters or results (schema, BEGIN/COMMIT); may hold several.
  virtual absl::Status Exec(absl::string_view sql) = 0;
  // One statement; its result rows (none for most writes).
  virtual absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                                    absl::Span<const SqlParam> params) = 0;
};

// `path` is a file name; ":memory:" works for tests.
absl::StatusOr<std::unique_ptr<SqlConnection>> OpenSqlite(const std::string& path, bool read_only);
// `url` is a libpq connection string, e.g. postgresql://user@host:5432/db.
absl::StatusOr<std::unique_ptr<SqlConnection>> OpenPostgres(const std::string& url);

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_SQL_CONNECTION_H_
