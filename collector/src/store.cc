#include "store.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_join.h"

namespace stallscope::collector {
namespace {

constexpr char kSchemaTemplate[] = R"sql(
CREATE TABLE IF NOT EXISTS agents (
  id $ID,
  agent_id TEXT NOT NULL UNIQUE,
  principal TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL,
  service TEXT NOT NULL,
  identity $BLOB NOT NULL,
  max_seq $INT NOT NULL DEFAULT 0,
  dropped_total $INT NOT NULL DEFAULT 0,
  first_seen_ns $INT NOT NULL,
  last_seen_ns $INT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
  id $ID,
  agent $INT NOT NULL,
  seq $INT NOT NULL,
  kind TEXT NOT NULL,
  time_ns $INT NOT NULL,
  duration_ns $INT NOT NULL,
  host TEXT NOT NULL,
  service TEXT NOT NULL,
  pid $INT NOT NULL,
  is_final INTEGER NOT NULL,
  site TEXT NOT NULL,
  subject TEXT NOT NULL,
  received_ns $INT NOT NULL,
  body $BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS reports_time ON reports(time_ns);
CREATE INDEX IF NOT EXISTS reports_kind_time ON reports(kind, time_ns);
CREATE INDEX IF NOT EXISTS reports_host_time ON reports(host, kind, time_ns);
CREATE INDEX IF NOT EXISTS reports_service_time ON reports(service, kind, time_ns);
CREATE INDEX IF NOT EXISTS reports_pid_time ON reports(pid, time_ns);
CREATE TABLE IF NOT EXISTS rollup (
  bucket_ns $INT NOT NULL,
  kind TEXT NOT NULL,
  service TEXT NOT NULL,
  host TEXT NOT NULL,
  pid $INT NOT NULL,
  key TEXT NOT NULL,
  count $INT NOT NULL,
  total_ns $INT NOT NULL,
  max_ns $INT NOT NULL,
  example_id $INT NOT NULL,
  PRIMARY KEY (bucket_ns, kind, service, host, pid, key));
CREATE INDEX IF NOT EXISTS rollup_kind_key ON rollup(kind, key, max_ns);
CREATE TABLE IF NOT EXISTS timeline (
  bucket_ns $INT NOT NULL,
  kind TEXT NOT NULL,
  service TEXT NOT NULL,
  host TEXT NOT NULL,
  count $INT NOT NULL,
  total_ns $INT NOT NULL,
  max_ns $INT NOT NULL,
  PRIMARY KEY (bucket_ns, kind, service, host));
)sql";

// One schema for both stores; only the type names differ.
std::string Schema(bool postgres) {
  if (!postgres)
    return absl::StrReplaceAll(kSchemaTemplate,
                               {{"$ID", "INTEGER PRIMARY KEY"}, {"$INT", "INTEGER"}, {"$BLOB", "BLOB"}});
  // Created under an advisory lock, so replicas starting together do not race on CREATE TABLE.
  return absl::StrCat("BEGIN;\nSELECT pg_advisory_xact_lock(5713020);",
                      absl::StrReplaceAll(kSchemaTemplate, {{"$ID", "BIGSERIAL PRIMARY KEY"},
                                                            {"$INT", "BIGINT"},
                                                            {"$BLOB", "BYTEA"}}),
                      "COMMIT;\n");
}

// Stores created before principals existed get the column (their agents: principal "").
constexpr char kAddPrincipalSqlite[] = "ALTER TABLE agents ADD COLUMN principal TEXT NOT NULL DEFAULT ''";
constexpr char kAddPrincipalPostgres[] = "ALTER TABLE agents ADD COLUMN IF NOT EXISTS principal TEXT NOT NULL DEFAULT ''";

// No row comes back when the agent_id belongs to another principal: the WHERE keeps the
// update from happening, and the caller refuses the batch.
constexpr char kUpsertAgent[] =
    "INSERT INTO agents(agent_id, principal, host, service, identity, max_seq, dropped_total, first_seen_ns, "
    "last_seen_ns) VALUES(?, ?, ?, ?, ?, 0, ?, ?, ?) "
    "ON CONFLICT(agent_id) DO UPDATE SET host = excluded.host, service = excluded.service, "
    "identity = excluded.identity, dropped_total = excluded.dropped_total, last_seen_ns = excluded.last_seen_ns "
    "WHERE agents.principal = excluded.principal "
    "RETURNING id, max_seq";
constexpr char kInsertReport[] =
    "INSERT INTO reports(agent, seq, kind, time_ns, duration_ns, host, service, pid, is_final, site, subject, "
    "received_ns, body) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id";
constexpr char kUpdateMaxSeq[] = "UPDATE agents SET max_seq = ? WHERE id = ? AND max_seq < ?";
constexpr char kUpsertRollup[] =
    "INSERT INTO rollup(bucket_ns, kind, service, host, pid, key, count, total_ns, max_ns, example_id) "
    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(bucket_ns, kind, service, host, pid, key) DO UPDATE SET "
    "count = rollup.count + excluded.count, total_ns = rollup.total_ns + excluded.total_ns, "
    "example_id = CASE WHEN excluded.max_ns > rollup.max_ns THEN excluded.example_id ELSE rollup.example_id END, "
    "max_ns = CASE WHEN excluded.max_ns > rollup.max_ns THEN excluded.max_ns ELSE rollup.max_ns END";

constexpr char kUpsertTimeline[] =
    "INSERT INTO timeline(bucket_ns, kind, service, host, count, total_ns, max_ns) VALUES(?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(bucket_ns, kind, service, host) DO UPDATE SET "
    "count = timeline.count + excluded.count, total_ns = timeline.total_ns + excluded.total_ns, "
    "max_ns = CASE WHEN excluded.max_ns > timeline.max_ns THEN excluded.max_ns ELSE timeline.max_ns END";

using RollupKey = std::tuple<int64_t, std::string, std::string, std::string, int64_t, std::string>;
using TimelineKey = std::tuple<int64_t, std::string, std::string, std::string>;
struct RollupValue {
  int64_t count = 0, total_ns = 0, max_ns = -1, example_id = 0;
};

int64_t I(uint64_t v) { return static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX)); }

// WHERE clauses shared by reports and rollup queries.
// `bucket_ns`: 0 for the reports table, else the rollup table's bucket width.
void AddFilter(const ReportFilter& f, uint64_t bucket_ns, std::vector<std::string>& where,
               std::vector<SqlParam>& params) {
  bool rollup = bucket_ns != 0;
  if (!f.kind.empty()) {
    where.push_back("kind = ?");
    params.emplace_back(std::in_place_type<absl::string_view>, f.kind);
  }
  if (!f.host.empty()) {
    where.push_back("host = ?");
    params.emplace_back(std::in_place_type<absl::string_view>, f.host);
  }
  if (!f.service.empty()) {
    where.push_back("service = ?");
    params.emplace_back(std::in_place_type<absl::string_view>, f.service);
  }
  if (f.pid) {
    where.push_back("pid = ?");
    params.emplace_back(std::in_place_type<int64_t>, static_cast<int64_t>(*f.pid));
  }
  const char* time_col = rollup ? "bucket_ns" : "time_ns";
  uint64_t since = rollup ? f.since_ns - f.since_ns % bucket_ns : f.since_ns;
  if (since > 0) {
    where.push_back(absl::StrCat(time_col, " >= ?"));
    params.emplace_back(std::in_place_type<int64_t>, I(since));
  }
  if (f.until_ns < static_cast<uint64_t>(INT64_MAX)) {
    where.push_back(absl::StrCat(time_col, " < ?"));
    params.emplace_back(std::in_place_type<int64_t>, I(f.until_ns));
  }
  if (!rollup && f.final) {
    where.push_back("is_final = ?");
    params.emplace_back(std::in_place_type<int64_t>, static_cast<int64_t>(*f.final ? 1 : 0));
  }
}

std::string WhereSql(const std::vector<std::string>& where) {
  return where.empty() ? "" : absl::StrCat(" WHERE ", absl::StrJoin(where, " AND "));
}

// Columns: id, seq, received_ns, body, identity.
StoredReport ReportFromRow(SqlRow& row) {
  StoredReport r;
  r.id = AsInt(row[0]);
  r.seq = static_cast<uint64_t>(AsInt(row[1]));
  r.received_ns = static_cast<uint64_t>(AsInt(row[2]));
  r.body = AsText(row[3]);
  r.identity = AsText(row[4]);
  return r;
}

}  // namespace

// Returns the connection to the pool when the query is done.
class Store::ReaderLease {
 public:
  ReaderLease(Store* store, std::unique_ptr<SqlConnection> conn) : store_(store), conn_(std::move(conn)) {}
  ~ReaderLease() { store_->Release(std::move(conn_)); }
  SqlConnection* operator->() { return conn_.get(); }

 private:
  Store* store_;
  std::unique_ptr<SqlConnection> conn_;
};

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& db, int readers) {
  bool pg = absl::StartsWith(db, "postgresql://") || absl::StartsWith(db, "postgres://");
  absl::StatusOr<std::unique_ptr<SqlConnection>> writer = pg ? OpenPostgres(db) : OpenSqlite(db, false);
  if (!writer.ok()) return writer.status();
  if (absl::Status st = (*writer)->Exec(Schema(pg)); !st.ok()) {
    if (pg) (*writer)->Exec("ROLLBACK").IgnoreError();
    return absl::UnavailableError(absl::StrCat("creating the schema in ", pg ? "PostgreSQL" : db, ": ", st.message()));
  }
  if (pg) {
    if (absl::Status st = (*writer)->Exec(kAddPrincipalPostgres); !st.ok()) return st;
  } else if (absl::Status st = (*writer)->Exec(kAddPrincipalSqlite);
             !st.ok() && !absl::StrContains(st.message(), "duplicate column")) {
    return st;
  }
  // An in-memory SQLite database is private to its connection: readers share the writer's.
  if (db == ":memory:") readers = 0;
  return std::unique_ptr<Store>(new Store(std::move(*writer), db, readers));
}

Store::Store(std::unique_ptr<SqlConnection> writer, std::string db, int readers)
    : dialect_(writer->dialect()), db_(std::move(db)), writer_(std::move(writer)), readers_left_(readers) {}

Store::~Store() = default;

std::string Store::BeginSql() const { return postgres() ? "BEGIN" : "BEGIN IMMEDIATE"; }

absl::StatusOr<std::unique_ptr<SqlConnection>> Store::Acquire() {
  {
    std::unique_lock lock(readers_mu_);
    while (idle_readers_.empty() && readers_left_ == 0 && db_ != ":memory:") readers_cv_.wait(lock);
    if (!idle_readers_.empty()) {
      auto conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return conn;
    }
    if (db_ != ":memory:") --readers_left_;
  }
  if (db_ == ":memory:") return nullptr;  // caller uses the writer
  auto conn = postgres() ? OpenPostgres(db_) : OpenSqlite(db_, true);
  if (!conn.ok()) {
    std::lock_guard lock(readers_mu_);
    ++readers_left_;
    readers_cv_.notify_one();
  }
  return conn;
}

void Store::Release(std::unique_ptr<SqlConnection> conn) {
  if (conn == nullptr) return;
  std::lock_guard lock(readers_mu_);
  idle_readers_.push_back(std::move(conn));
  readers_cv_.notify_one();
}

// A read on a pooled reader, or on the writer (under its lock) when there are no readers
// (an in-memory SQLite database has only the one connection).
absl::StatusOr<std::vector<SqlRow>> Store::ReadQuery(absl::string_view sql,
                                                     absl::Span<const SqlParam> params) {
  auto conn = Acquire();
  if (!conn.ok()) return conn.status();
  if (*conn == nullptr) {
    std::lock_guard lock(writer_mu_);
    return writer_->Query(sql, params);
  }
  ReaderLease lease(this, std::move(*conn));
  return lease->Query(sql, params);
}

absl::Status Store::Write(absl::Span<IngestBatch* const> batches) {
  std::lock_guard lock(writer_mu_);
  absl::Status st = WriteOnce(batches);
  last_write_failed_ = !st.ok();
  if (!st.ok()) {
    writer_->Exec("ROLLBACK").IgnoreError();
    for (IngestBatch* b : batches)
      for (IngestRow& row : b->rows) row.stored = false;
  }
  return st;
}

absl::Status Store::WriteOnce(absl::Span<IngestBatch* const> batches) {
  // Agents in a fixed order so concurrent replicas on PostgreSQL lock rows in the same order.
  std::vector<IngestBatch*> ordered(batches.begin(), batches.end());
  std::stable_sort(ordered.begin(), ordered.end(), [](const IngestBatch* a, const IngestBatch* b) {
    return a->identity.agent_id() < b->identity.agent_id();
  });
  if (absl::Status st = writer_->Exec(BeginSql()); !st.ok()) return st;
  std::map<RollupKey, RollupValue> rollup;
  std::map<TimelineKey, RollupValue> timeline;
  for (IngestBatch* batch : ordered) {
    const v1::AgentIdentity& id = batch->identity;
    SqlParam agent_params[] = {id.agent_id(),      batch->principal,         id.host(),
                               id.service(),       SqlBlobView{batch->identity_bytes}, I(batch->dropped_total),
                               I(batch->received_ns), I(batch->received_ns)};
    auto agent = writer_->Query(kUpsertAgent, agent_params);
    if (!agent.ok()) return agent.status();
    batch->denied = agent->empty();
    if (batch->denied) {
      for (IngestRow& row : batch->rows) row.stored = false;
      batch->acked_through = 0;
      continue;
    }
    int64_t agent_key = AsInt((*agent)[0][0]);
    uint64_t max_seq = static_cast<uint64_t>(AsInt((*agent)[0][1]));
    uint64_t new_max = max_seq;
    std::vector<IngestRow*> fresh;  // not stored yet: everything above the agent's max_seq
    for (IngestRow& row : batch->rows) {
      row.stored = false;
      if (row.seq <= new_max) continue;  // already stored: a resend after a lost ack
      new_max = row.seq;
      if (!row.refused) fresh.push_back(&row);
    }
    auto ids = InsertReports(agent_key, *batch, fresh);
    if (!ids.ok()) return ids.status();
    for (size_t i = 0; i < fresh.size(); ++i) {
      IngestRow& row = *fresh[i];
      row.stored = true;
      const ReportIndex& x = row.index;
      if (!x.final || x.kind.empty() || x.kind == kUnknownKind) continue;
      RollupKey key{I(x.time_ns - x.time_ns % kRollupBucketNs), x.kind, ServiceOf(x, id.service()), id.host(),
                    static_cast<int64_t>(x.pid), x.site.empty() ? x.subject : x.site};
      RollupValue& v = rollup[key];
      v.count += 1;
      v.total_ns += I(x.duration_ns);
      if (I(x.duration_ns) > v.max_ns) {
        v.max_ns = I(x.duration_ns);
        v.example_id = (*ids)[i];
      }
      RollupValue& t =
          timeline[{I(x.time_ns - x.time_ns % kTimelineBucketNs), x.kind, ServiceOf(x, id.service()), id.host()}];
      t.count += 1;
      t.total_ns += I(x.duration_ns);
      t.max_ns = std::max(t.max_ns, I(x.duration_ns));
    }
    if (new_max > max_seq) {
      SqlParam params[] = {I(new_max), agent_key, I(new_max)};
      if (auto st = writer_->Query(kUpdateMaxSeq, params); !st.ok()) return st.status();
    }
    batch->acked_through = new_max;
  }
  for (const auto& [k, v] : rollup) {
    SqlParam params[] = {std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), std::get<4>(k),
                         std::get<5>(k), v.count,        v.total_ns,     v.max_ns,       v.example_id};
    if (auto st = writer_->Query(kUpsertRollup, params); !st.ok()) return st.status();
  }
  for (const auto& [k, v] : timeline) {
    SqlParam params[] = {std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), v.count, v.total_ns,
                         v.max_ns};
    if (auto st = writer_->Query(kUpsertTimeline, params); !st.ok()) return st.status();
  }
  return writer_->Exec("COMMIT");
}

absl::StatusOr<std::vector<int64_t>> Store::InsertReports(int64_t agent_key, const IngestBatch& batch,
                                                         const std::vector<IngestRow*>& rows) {
  std::vector<int64_t> ids;
  ids.reserve(rows.size());
  const v1::AgentIdentity& id = batch.identity;
  auto add_params = [&](const IngestRow& row, std::vector<SqlParam>& params) {
    const ReportIndex& x = row.index;
    params.insert(params.end(), {agent_key, I(row.seq), x.kind, I(x.time_ns), I(x.duration_ns), id.host(),
                                 ServiceOf(x, id.service()), static_cast<int64_t>(x.pid), int64_t{x.final}, x.site, x.subject,
                                 I(batch.received_ns), SqlBlobView{row.body}});
  };
  if (!postgres()) {
    // SQLite runs in-process: one cached statement per row is the fastest.
    std::vector<SqlParam> params;
    for (const IngestRow* row : rows) {
      params.clear();
      add_params(*row, params);
      auto inserted = writer_->Query(kInsertReport, params);
      if (!inserted.ok()) return inserted.status();
      ids.push_back(inserted->empty() ? 0 : AsInt((*inserted)[0][0]));
    }
    return ids;
  }
  // PostgreSQL: a network round trip per statement, so many rows per INSERT. RETURNING
  // carries seq to match ids to rows whatever order the server returns them in.
  constexpr size_t kRowsPerInsert = 250;
  for (size_t start = 0; start < rows.size(); start += kRowsPerInsert) {
    size_t n = std::min(kRowsPerInsert, rows.size() - start);
    std::string sql = std::string(kInsertReport, std::string_view(kInsertReport).find(" VALUES")) + " VALUES ";
    std::vector<SqlParam> params;
    params.reserve(n * 13);
    for (size_t i = 0; i < n; ++i) {
      absl::StrAppend(&sql, i ? "," : "", "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      add_params(*rows[start + i], params);
    }
    sql += " RETURNING id, seq";
    auto inserted = writer_->Query(sql, params);
    if (!inserted.ok()) return inserted.status();
    std::map<int64_t, int64_t> by_seq;
    for (const SqlRow& r : *inserted) by_seq[AsInt(r[1])] = AsInt(r[0]);
    for (size_t i = 0; i < n; ++i) ids.push_back(by_seq[I(rows[start + i]->seq)]);
  }
  return ids;
}

absl::StatusOr<std::vector<StoredReport>> Store::Reports(const ReportFilter& filter, int limit) {
  std::vector<std::string> where;
  std::vector<SqlParam> params;
  AddFilter(filter, 0, where, params);
  params.push_back(static_cast<int64_t>(limit));
  std::string sql = absl::StrCat(
      "SELECT r.id, r.seq, r.received_ns, r.body, a.identity FROM "
      "(SELECT id, agent, seq, received_ns, body, time_ns FROM reports",
      WhereSql(where), " ORDER BY time_ns DESC, id DESC LIMIT ?) r LEFT JOIN agents a ON a.id = r.agent ",
      "ORDER BY r.time_ns DESC, r.id DESC");
  absl::StatusOr<std::vector<SqlRow>> rows = ReadQuery(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<StoredReport> out;
  out.reserve(rows->size());
  for (SqlRow& row : *rows) out.push_back(ReportFromRow(row));
  return out;
}

absl::StatusOr<std::optional<StoredReport>> Store::ReportById(int64_t id) {
  std::string sql =
      "SELECT r.id, r.seq, r.received_ns, r.body, a.identity FROM reports r LEFT JOIN agents a ON a.id = r.agent "
      "WHERE r.id = ?";
  SqlParam params[] = {id};
  absl::StatusOr<std::vector<SqlRow>> rows = ReadQuery(sql, params);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<StoredReport>();
  return std::optional<StoredReport>(ReportFromRow((*rows)[0]));
}

absl::StatusOr<std::vector<RollupRow>> Store::Rollup(const RollupQuery& q) {
  // The timeline comes from the per-minute table unless it must filter by pid (hourly).
  bool minutes = q.group == GroupBy::kBucket && !q.filter.pid;
  uint64_t bucket = minutes ? kTimelineBucketNs : kRollupBucketNs;
  uint64_t step = std::max(bucket, q.step_ns - q.step_ns % bucket);
  const char* table = minutes ? "timeline" : "rollup";
  std::vector<std::string> where;
  std::vector<SqlParam> params;
  AddFilter(q.filter, bucket, where, params);
  std::string group;
  switch (q.group) {
    case GroupBy::kKey: group = "key"; break;
    case GroupBy::kService: group = "service"; break;
    case GroupBy::kHost: group = "host"; break;
    case GroupBy::kProcess: group = "host, pid, service"; break;
    case GroupBy::kSubject: group = "service, host, key"; break;
    case GroupBy::kBucket: group = "b"; break;
  }
  std::string select = q.group == GroupBy::kBucket
                           ? absl::StrCat("(bucket_ns / ", I(step), ") * ", I(step), " AS b")
                           : group;
  // Buckets in time order; everything else ranked by total time, the count breaking ties.
  std::string order = q.group == GroupBy::kBucket ? "4 ASC" : "2 DESC, 1 DESC";
  // Sums as BIGINT: PostgreSQL's SUM(bigint) is numeric.
  std::string sql = absl::StrCat("SELECT CAST(SUM(count) AS BIGINT), CAST(SUM(total_ns) AS BIGINT), ",
                                 "CAST(MAX(max_ns) AS BIGINT), ", select, " FROM ", table, WhereSql(where),
                                 " GROUP BY ", group, " ORDER BY ", order, " LIMIT ?");
  params.push_back(static_cast<int64_t>(q.limit));
  auto rows = ReadQuery(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<RollupRow> out;
  for (const SqlRow& row : *rows) {
    RollupRow r;
    r.count = static_cast<uint64_t>(AsInt(row[0]));
    r.total_ns = static_cast<uint64_t>(AsInt(row[1]));
    r.max_ns = static_cast<uint64_t>(AsInt(row[2]));
    switch (q.group) {
      case GroupBy::kKey: r.key = AsText(row[3]); break;
      case GroupBy::kService: r.service = AsText(row[3]); break;
      case GroupBy::kHost: r.host = AsText(row[3]); break;
      case GroupBy::kProcess:
        r.host = AsText(row[3]);
        r.pid = static_cast<uint32_t>(AsInt(row[4]));
        r.service = AsText(row[5]);
        break;
      case GroupBy::kSubject:
        r.service = AsText(row[3]);
        r.host = AsText(row[4]);
        r.key = AsText(row[5]);
        break;
      case GroupBy::kBucket: r.bucket_ns = static_cast<uint64_t>(AsInt(row[3])); break;
    }
    out.push_back(std::move(r));
  }
  if (q.group == GroupBy::kKey || q.group == GroupBy::kSubject) {
    // The longest report of each group, for its stack.
    for (RollupRow& r : out) {
      std::vector<std::string> w;
      std::vector<SqlParam> p;
      AddFilter(q.filter, kRollupBucketNs, w, p);
      w.push_back("key = ?");
      p.push_back(r.key);
      if (q.group == GroupBy::kSubject) {
        w.push_back("service = ?");
        p.push_back(r.service);
        w.push_back("host = ?");
        p.push_back(r.host);
      }
      auto ex = ReadQuery(absl::StrCat("SELECT example_id FROM rollup", WhereSql(w), " ORDER BY max_ns DESC LIMIT 1"), p);
      if (!ex.ok()) return ex.status();
      if (!ex->empty()) r.example_id = AsInt((*ex)[0][0]);
    }
  }
  return out;
}

absl::StatusOr<int64_t> Store::DeleteBefore(uint64_t cutoff_ns, int max_rows) {
  std::lock_guard lock(writer_mu_);
  if (absl::Status st = writer_->Exec(BeginSql()); !st.ok()) return st;
  auto run = [&]() -> absl::StatusOr<int64_t> {
    SqlParam params[] = {I(cutoff_ns), static_cast<int64_t>(max_rows)};
    auto deleted = writer_->Query(
        "DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE time_ns < ? LIMIT ?) RETURNING id", params);
    if (!deleted.ok()) return deleted.status();
    SqlParam cutoff[] = {I(cutoff_ns - cutoff_ns % kRollupBucketNs)};
    if (auto st = writer_->Query("DELETE FROM rollup WHERE bucket_ns < ?", cutoff); !st.ok()) return st.status();
    SqlParam minute[] = {I(cutoff_ns - cutoff_ns % kTimelineBucketNs)};
    if (auto st = writer_->Query("DELETE FROM timeline WHERE bucket_ns < ?", minute); !st.ok()) return st.status();
    SqlParam seen[] = {I(cutoff_ns)};
    if (auto st = writer_->Query("DELETE FROM agents WHERE last_seen_ns < ?", seen); !st.ok()) return st.status();
    if (absl::Status st = writer_->Exec("COMMIT"); !st.ok()) return st;
    return static_cast<int64_t>(deleted->size());
  };
  auto result = run();
  if (!result.ok()) writer_->Exec("ROLLBACK").IgnoreError();
  return result;
}

absl::Status Store::Check() {
  if (last_write_failed_) return absl::UnavailableError("the last store transaction failed");
  auto rows = ReadQuery("SELECT 1", {});
  return rows.ok() ? absl::OkStatus() : rows.status();
}

absl::StatusOr<int64_t> Store::CountReports() {
  std::lock_guard lock(writer_mu_);
  auto rows = writer_->Query("SELECT COUNT(*) FROM reports", {});
  if (!rows.ok()) return rows.status();
  return rows->empty() ? 0 : AsInt((*rows)[0][0]);
}

}  // namespace stallscope::collector
