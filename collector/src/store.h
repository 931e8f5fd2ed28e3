// Fleet storage: every report as its kind + common columns + the Report's serialized bytes
// (so new kinds need no schema change), per-minute rollups for the summaries, and one row
// per agent run holding the highest stored seq (exactly-once across reconnects).
// One Store runs on SQLite (default) or PostgreSQL (--db postgresql://...); see
// docs/collector.md for the schema.
#ifndef STALLSCOPE_COLLECTOR_STORE_H_
#define STALLSCOPE_COLLECTOR_STORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "report_index.h"
#include "sql_connection.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope::collector {

// Summaries (call sites, services, processes, pools) come from hourly rollups, small enough
// to rank over 7 days quickly; the stall timeline from per-minute ones without pid/site.
inline constexpr uint64_t kRollupBucketNs = 3'600'000'000'000;
inline constexpr uint64_t kTimelineBucketNs = 60'000'000'000;

struct IngestRow {
  uint64_t seq = 0;
  ReportIndex index;
  std::string body;     // serialized v1::Report
  bool stored = false;  // set by Store::Write: false for a duplicate of a stored seq
  // Dated outside the accepted window: never stored, but its seq counts as consumed, so the
  // agent's buffer drains instead of resending it forever.
  bool refused = false;
  // Not a readable report (it did not parse: a string that is not UTF-8, not a Report; or it
  // has no kind): refused as above, and named in the ack so the agent drops it.
  bool malformed = false;
};

// What one agent message becomes: stored whole or not at all.
struct IngestBatch {
  std::string principal;  // who the stream authenticated as ("" = no authentication configured)
  v1::AgentIdentity identity;
  std::string identity_bytes;
  uint64_t dropped_total = 0;
  uint64_t received_ns = 0;
  std::vector<IngestRow> rows;  // strictly increasing seq
  uint64_t acked_through = 0;   // set by Store::Write: highest seq of this agent stored
  // Set by Store::Write: the agent_id belongs to another principal; nothing was stored.
  bool denied = false;
};

struct ReportFilter {
  std::string kind;  // "" = any
  std::string host;
  std::string service;
  std::optional<uint32_t> pid;
  uint64_t since_ns = 0;
  uint64_t until_ns = INT64_MAX;
  std::optional<bool> final;
};

struct StoredReport {
  int64_t id = 0;
  uint64_t seq = 0;
  uint64_t received_ns = 0;
  std::string body;      // serialized v1::Report
  std::string identity;  // serialized v1::AgentIdentity ("" if the agent row expired)
};

// Summaries come from the rollup table (final reports only).
enum class GroupBy { kKey, kService, kHost, kProcess, kBucket, kSubject };

struct RollupQuery {
  ReportFilter filter;  // kind required; final is implied
  GroupBy group = GroupBy::kKey;
  int limit = 20;
  uint64_t step_ns = kTimelineBucketNs;  // kBucket only: per minute, or hours with a pid filter
};

struct RollupRow {
  std::string service, host, key;
  uint32_t pid = 0;
  uint64_t bucket_ns = 0;
  uint64_t count = 0, total_ns = 0, max_ns = 0;
  int64_t example_id = 0;  // kKey / kSubject: the longest report of the group
};

class Store {
 public:
  // `db`: a file path (SQLite) or a postgresql:// URL.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& db, int readers = 4);
  ~Store();

  bool postgres() const { return dialect_ == SqlDialect::kPostgres; }

  // All batches in one transaction (group commit). Reports whose seq is not above the
  // agent's stored max_seq are duplicates of a resend and skipped. An agent_id belongs to
  // the principal that first stored it: another principal's batch is skipped whole and
  // marked `denied`, so no stream can advance, hide or overwrite another's reports.
  absl::Status Write(absl::Span<IngestBatch* const> batches);

  // Newest first.
  absl::StatusOr<std::vector<StoredReport>> Reports(const ReportFilter& filter, int limit);
  absl::StatusOr<std::optional<StoredReport>> ReportById(int64_t id);
  absl::StatusOr<std::vector<RollupRow>> Rollup(const RollupQuery& query);

  // Retention: deletes up to `max_rows` reports older than `cutoff_ns` (and the rollups and
  // agents with nothing newer). Returns how many reports were deleted.
  absl::StatusOr<int64_t> DeleteBefore(uint64_t cutoff_ns, int max_rows);
  absl::StatusOr<int64_t> CountReports();
  // A cheap read and whether the last write failed: for /healthz.
  absl::Status Check();

 private:
  class ReaderLease;
  Store(std::unique_ptr<SqlConnection> writer, std::string db, int readers);
  absl::Status WriteOnce(absl::Span<IngestBatch* const> batches);
  // The rows' report ids, in order.
  absl::StatusOr<std::vector<int64_t>> InsertReports(int64_t agent_key, const IngestBatch& batch,
                                                     const std::vector<IngestRow*>& rows);
  absl::StatusOr<std::unique_ptr<SqlConnection>> Acquire();
  void Release(std::unique_ptr<SqlConnection> conn);
  absl::StatusOr<std::vector<SqlRow>> ReadQuery(absl::string_view sql, absl::Span<const SqlParam> params);
  std::string BeginSql() const;

  SqlDialect dialect_;
  std::atomic<bool> last_write_failed_{false};
  std::string db_;
  std::mutex writer_mu_;
  std::unique_ptr<SqlConnection> writer_;
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<SqlConnection>> idle_readers_;
  int readers_left_;  // readers that may still be opened
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_STORE_H_
