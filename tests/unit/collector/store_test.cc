// The same storage tests against SQLite and a real PostgreSQL server (skipped, with the
// reason, only where PostgreSQL cannot run).
#include "store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "collector/temp_postgres.h"
#include "collector/test_reports.h"

namespace stallscope::collector {
namespace {

constexpr uint64_t kT0 = 1'699'999'200'000'000'000;  // a whole hour
constexpr uint64_t kMs = 1'000'000;

enum class Backend { kSqlite, kPostgres };

// Every scenario runs on SQLite (one test each) and on PostgreSQL (all in one test, each in a
// fresh database of one server: starting a server takes seconds).
class StoreTest : public ::testing::Test {
 protected:
  void UseSqlite() {
    backend_ = Backend::kSqlite;
    char tmpl[] = "/tmp/stallscope-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    url_ = dir_ + "/store.db";
    Open();
  }
  void UsePostgres(const std::string& url) {
    backend_ = Backend::kPostgres;
    url_ = url;
    Open();
  }
  void Open() {
    auto store = Store::Open(url_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) {
      std::string rm = "rm -rf " + dir_;
      ASSERT_EQ(system(rm.c_str()), 0);
    }
  }
  Backend backend() const { return backend_; }

 public:
  void StoresAndReturnsNewestFirstWithTheAgent();
  void ResentReportsAreStoredOnce();
  void FiltersByKindHostServicePidTimeAndFinal();
  void SummariesRankSitesServicesAndProcesses();
  void AFailedBatchLeavesNothingHalfStored();
  void RetentionDeletesOldReportsAndRollups();
  void SurvivesReopening();
  void AnAgentIdBelongsToItsFirstPrincipal();

 protected:

  void Write(IngestBatch batch) {
    IngestBatch* batches[] = {&batch};
    ASSERT_TRUE(store_->Write(batches).ok());
    last_ack_ = batch.acked_through;
  }

  std::vector<v1::Report> Query(const ReportFilter& f, int limit = 100) {
    auto rows = store_->Reports(f, limit);
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::vector<v1::Report> out;
    for (const StoredReport& s : *rows) {
      v1::Report r;
      EXPECT_TRUE(r.ParseFromString(s.body));
      r.mutable_agent()->ParseFromString(s.identity);
      out.push_back(r);
    }
    return out;
  }

  Backend backend_ = Backend::kSqlite;
  std::string dir_, url_;
  std::unique_ptr<Store> store_;
  uint64_t last_ack_ = 0;
};

void StoreTest::StoresAndReturnsNewestFirstWithTheAgent() {
  v1::AgentIdentity a = Agent("agent-a", "web-1", "shop");
  Write(Batch(a, 1, {Stall(10, kT0, 150 * kMs, "handler"), Stall(10, kT0 + 5'000 * kMs, 300 * kMs, "render")}));
  EXPECT_EQ(last_ack_, 2u);
  auto reports = Query({});
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].loop_block().duration_ns(), 300 * kMs);
  EXPECT_EQ(reports[0].agent().host(), "web-1");
  EXPECT_EQ(reports[0].agent().service(), "shop");
  EXPECT_EQ(reports[1].loop_block().duration_ns(), 150 * kMs);
}

void StoreTest::ResentReportsAreStoredOnce() {
  v1::AgentIdentity a = Agent("agent-a", "web-1", "shop");
  Write(Batch(a, 1, {Stall(10, kT0, 150 * kMs, "a"), Stall(10, kT0 + 1, 150 * kMs, "b")}));
  // The ack was lost: the agent resends 1-2 together with 3.
  IngestBatch again = Batch(a, 1, {Stall(10, kT0, 150 * kMs, "a"), Stall(10, kT0 + 1, 150 * kMs, "b"),
                                   Stall(10, kT0 + 2, 150 * kMs, "c")});
  IngestBatch* batches[] = {&again};
  ASSERT_TRUE(store_->Write(batches).ok());
  EXPECT_EQ(again.acked_through, 3u);
  EXPECT_FALSE(again.rows[0].stored);
  EXPECT_FALSE(again.rows[1].stored);
  EXPECT_TRUE(again.rows[2].stored);
  EXPECT_EQ(*store_->CountReports(), 3);
  // A hello (no reports) learns where to resume.
  Write(Batch(a, 1, {}));
  EXPECT_EQ(last_ack_, 3u);
  // Another agent's seqs are its own.
  Write(Batch(Agent("agent-b", "web-2", "shop"), 1, {Stall(11, kT0, 150 * kMs, "a")}));
  EXPECT_EQ(last_ack_, 1u);
  EXPECT_EQ(*store_->CountReports(), 4);
}

void StoreTest::FiltersByKindHostServicePidTimeAndFinal() {
  v1::Report exit_event;
  exit_event.mutable_process_event()->set_kind(v1::ProcessEvent::EXITED);
  exit_event.mutable_process_event()->set_pid(10);
  exit_event.mutable_process_event()->set_time_unix_nano(kT0 + 9'000 * kMs);
  Write(Batch(Agent("a", "web-1", "shop"), 1,
              {Stall(10, kT0, 150 * kMs, "x"), Stall(10, kT0 + 1'000 * kMs, 200 * kMs, "y", true), exit_event}));
  Write(Batch(Agent("b", "web-2", "search"), 1, {Stall(20, kT0 + 2'000 * kMs, 500 * kMs, "z")}));

  ReportFilter f;
  f.kind = "loop_block";
  EXPECT_EQ(Query(f).size(), 3u);
  f.host = "web-1";
  EXPECT_EQ(Query(f).size(), 2u);
  f.final = true;
  EXPECT_EQ(Query(f).size(), 1u);
  f = {};
  f.service = "search";
  EXPECT_EQ(Query(f).size(), 1u);
  f = {};
  f.pid = 10;
  EXPECT_EQ(Query(f).size(), 3u);
  f.kind = "process_event";
  ASSERT_EQ(Query(f).size(), 1u);
  EXPECT_TRUE(Query(f)[0].has_process_event());
  f = {};
  f.since_ns = kT0 + 1'000 * kMs;
  f.until_ns = kT0 + 3'000 * kMs;
  EXPECT_EQ(Query(f).size(), 2u);
  f = {};
  EXPECT_EQ(Query(f, 2).size(), 2u);
}

void StoreTest::SummariesRankSitesServicesAndProcesses() {
  Write(Batch(Agent("a", "web-1", "shop"), 1,
              {Stall(10, kT0, 100 * kMs, "slow_query"), Stall(10, kT0 + 1, 900 * kMs, "slow_query"),
               Stall(10, kT0 + 2, 300 * kMs, "render"),
               Stall(10, kT0 + 3, 5'000 * kMs, "slow_query", /*in_progress=*/true)}));
  Write(Batch(Agent("b", "web-2", "search"), 1, {Stall(20, kT0 + 61'000 * kMs, 250 * kMs, "lookup")}));

  RollupQuery q;
  q.filter.kind = "loop_block";
  q.group = GroupBy::kKey;
  auto sites = store_->Rollup(q);
  ASSERT_TRUE(sites.ok()) << sites.status();
  ASSERT_EQ(sites->size(), 3u);
  EXPECT_EQ((*sites)[0].key, "app.py:42 slow_query");
  EXPECT_EQ((*sites)[0].count, 2u);  // in-progress reports are not counted
  EXPECT_EQ((*sites)[0].total_ns, 1'000 * kMs);
  EXPECT_EQ((*sites)[0].max_ns, 900 * kMs);
  auto example = store_->ReportById((*sites)[0].example_id);
  ASSERT_TRUE(example.ok() && example->has_value());
  v1::Report r;
  ASSERT_TRUE(r.ParseFromString((*example)->body));
  EXPECT_EQ(r.loop_block().duration_ns(), 900 * kMs);

  q.group = GroupBy::kService;
  auto services = store_->Rollup(q);
  ASSERT_TRUE(services.ok());
  ASSERT_EQ(services->size(), 2u);
  EXPECT_EQ((*services)[0].service, "shop");
  EXPECT_EQ((*services)[0].total_ns, 1'300 * kMs);

  q.group = GroupBy::kProcess;
  auto procs = store_->Rollup(q);
  ASSERT_TRUE(procs.ok());
  ASSERT_EQ(procs->size(), 2u);
  EXPECT_EQ((*procs)[1].host, "web-2");
  EXPECT_EQ((*procs)[1].pid, 20u);

  q.group = GroupBy::kBucket;
  auto buckets = store_->Rollup(q);
  ASSERT_TRUE(buckets.ok());
  ASSERT_EQ(buckets->size(), 2u);
  EXPECT_EQ((*buckets)[0].bucket_ns, kT0);
  EXPECT_EQ((*buckets)[1].bucket_ns, kT0 + kTimelineBucketNs);  // per minute
  EXPECT_EQ((*buckets)[1].total_ns, 250 * kMs);
  q.filter.pid = 10;  // per process: from the hourly rollups
  q.step_ns = kRollupBucketNs;
  buckets = store_->Rollup(q);
  ASSERT_TRUE(buckets.ok());
  ASSERT_EQ(buckets->size(), 1u);
  EXPECT_EQ((*buckets)[0].total_ns, 1'300 * kMs);
  q.filter.pid.reset();

  q.group = GroupBy::kKey;
  q.filter.host = "web-2";
  sites = store_->Rollup(q);
  ASSERT_TRUE(sites.ok());
  ASSERT_EQ(sites->size(), 1u);
  EXPECT_EQ((*sites)[0].key, "app.py:42 lookup");
}

void StoreTest::AFailedBatchLeavesNothingHalfStored() {
  // A trigger makes the third insert fail, as a full disk or a lost connection would.
  std::unique_ptr<SqlConnection> admin;
  if (backend() == Backend::kPostgres) {
    admin = std::move(*OpenPostgres(url_));
    ASSERT_TRUE(admin->Exec("CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.seq = 3 THEN "
                            "RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; "
                            "CREATE TRIGGER boom BEFORE INSERT ON reports FOR EACH ROW EXECUTE FUNCTION boom();")
                    .ok());
  } else {
    admin = std::move(*OpenSqlite(url_, false));
    ASSERT_TRUE(admin->Exec("CREATE TRIGGER boom BEFORE INSERT ON reports WHEN NEW.seq = 3 "
                            "BEGIN SELECT RAISE(ABORT, 'boom'); END;")
                    .ok());
  }
  IngestBatch b = Batch(Agent("a", "h", "s"), 1,
                        {Stall(1, kT0, 150 * kMs, "f"), Stall(1, kT0, 150 * kMs, "f"), Stall(1, kT0, 150 * kMs, "f")});
  IngestBatch* batches[] = {&b};
  EXPECT_FALSE(store_->Write(batches).ok());
  EXPECT_EQ(*store_->CountReports(), 0);
  RollupQuery q;
  q.filter.kind = "loop_block";
  EXPECT_TRUE(store_->Rollup(q)->empty());
  // The store keeps working, and the agent's position was not advanced.
  Write(Batch(Agent("a", "h", "s"), 1, {}));
  EXPECT_EQ(last_ack_, 0u);
}

void StoreTest::RetentionDeletesOldReportsAndRollups() {
  constexpr uint64_t kHour = 3'600'000 * kMs;
  Write(Batch(Agent("a", "h", "s"), 1, {Stall(1, kT0, 150 * kMs, "old"), Stall(1, kT0 + 2 * kHour, 150 * kMs, "new")},
              kT0 + 3 * kHour));
  auto deleted = store_->DeleteBefore(kT0 + kHour, 1000);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(*store_->CountReports(), 1);
  RollupQuery q;
  q.filter.kind = "loop_block";
  auto sites = store_->Rollup(q);
  ASSERT_EQ(sites->size(), 1u);
  EXPECT_EQ((*sites)[0].key, "app.py:42 new");
}

void StoreTest::SurvivesReopening() {
  Write(Batch(Agent("a", "h", "s"), 1, {Stall(1, kT0, 150 * kMs, "f")}));
  store_.reset();
  auto store = Store::Open(url_);
  ASSERT_TRUE(store.ok());
  store_ = std::move(*store);
  EXPECT_EQ(*store_->CountReports(), 1);
  Write(Batch(Agent("a", "h", "s"), 1, {}));
  EXPECT_EQ(last_ack_, 1u);
}

// The hijack: another principal claims agent-a with a seq far ahead. Nothing of it is stored
// or acknowledged, and agent-a's next reports are stored, not skipped as "already stored".
void StoreTest::AnAgentIdBelongsToItsFirstPrincipal() {
  v1::AgentIdentity a = Agent("agent-a", "web-1", "shop");
  IngestBatch first = Batch(a, 1, {Stall(10, kT0, 150 * kMs, "a")});
  first.principal = "node-a";
  Write(std::move(first));
  EXPECT_EQ(last_ack_, 1u);
  v1::AgentIdentity forged = Agent("agent-a", "evil", "evil");
  IngestBatch hijack = Batch(forged, 1'000'000, {Stall(10, kT0 + 1, 150 * kMs, "forged")});
  hijack.principal = "node-b";
  IngestBatch* batches[] = {&hijack};
  ASSERT_TRUE(store_->Write(batches).ok());
  EXPECT_TRUE(hijack.denied);
  EXPECT_EQ(hijack.acked_through, 0u);
  EXPECT_FALSE(hijack.rows[0].stored);
  IngestBatch next = Batch(a, 2, {Stall(10, kT0 + 2, 150 * kMs, "b")});
  next.principal = "node-a";
  Write(std::move(next));
  EXPECT_EQ(last_ack_, 2u);
  auto reports = Query({});
  ASSERT_EQ(reports.size(), 2u);
  for (const v1::Report& r : reports) EXPECT_EQ(r.agent().host(), "web-1");  // identity not overwritten
  // A refused (out-of-window) report is not stored, but its seq is consumed.
  IngestBatch late = Batch(a, 3, {Stall(10, kT0 + 3, 150 * kMs, "c")});
  late.principal = "node-a";
  late.rows[0].refused = true;
  Write(std::move(late));
  EXPECT_EQ(last_ack_, 3u);
  EXPECT_EQ(*store_->CountReports(), 2);
}

TEST_F(StoreTest, SqliteAnAgentIdBelongsToItsFirstPrincipal) {
  UseSqlite();
  AnAgentIdBelongsToItsFirstPrincipal();
}

TEST_F(StoreTest, SqliteStoresAndReturnsNewestFirstWithTheAgent) {
  UseSqlite();
  StoresAndReturnsNewestFirstWithTheAgent();
}

TEST_F(StoreTest, SqliteResentReportsAreStoredOnce) {
  UseSqlite();
  ResentReportsAreStoredOnce();
}

TEST_F(StoreTest, SqliteFiltersByKindHostServicePidTimeAndFinal) {
  UseSqlite();
  FiltersByKindHostServicePidTimeAndFinal();
}

TEST_F(StoreTest, SqliteSummariesRankSitesServicesAndProcesses) {
  UseSqlite();
  SummariesRankSitesServicesAndProcesses();
}

TEST_F(StoreTest, SqliteAFailedBatchLeavesNothingHalfStored) {
  UseSqlite();
  AFailedBatchLeavesNothingHalfStored();
}

TEST_F(StoreTest, SqliteRetentionDeletesOldReportsAndRollups) {
  UseSqlite();
  RetentionDeletesOldReportsAndRollups();
}

TEST_F(StoreTest, SqliteSurvivesReopening) {
  UseSqlite();
  SurvivesReopening();
}

TEST_F(StoreTest, PostgresAllScenarios) {
  auto pg = TempPostgres::Start();
  if (!pg.ok()) GTEST_SKIP() << "PostgreSQL unavailable: " << pg.status().message();
  auto admin = OpenPostgres((*pg)->url());
  ASSERT_TRUE(admin.ok()) << admin.status();
  using Scenario = void (StoreTest::*)();
  const std::pair<const char*, Scenario> scenarios[] = {
      {"StoresAndReturnsNewestFirstWithTheAgent", &StoreTest::StoresAndReturnsNewestFirstWithTheAgent},
      {"ResentReportsAreStoredOnce", &StoreTest::ResentReportsAreStoredOnce},
      {"FiltersByKindHostServicePidTimeAndFinal", &StoreTest::FiltersByKindHostServicePidTimeAndFinal},
      {"SummariesRankSitesServicesAndProcesses", &StoreTest::SummariesRankSitesServicesAndProcesses},
      {"AFailedBatchLeavesNothingHalfStored", &StoreTest::AFailedBatchLeavesNothingHalfStored},
      {"RetentionDeletesOldReportsAndRollups", &StoreTest::RetentionDeletesOldReportsAndRollups},
      {"SurvivesReopening", &StoreTest::SurvivesReopening},
      {"AnAgentIdBelongsToItsFirstPrincipal", &StoreTest::AnAgentIdBelongsToItsFirstPrincipal},
  };
  int n = 0;
  for (const auto& [name, scenario] : scenarios) {
    SCOPED_TRACE(name);
    std::string db = absl::StrCat("scenario", ++n);
    ASSERT_TRUE((*admin)->Exec("CREATE DATABASE " + db).ok());
    std::string url = (*pg)->url();
    url.replace(url.find("/postgres?"), 10, "/" + db + "?");
    UsePostgres(url);
    (this->*scenario)();
    store_.reset();
  }
}

}  // namespace
}  // namespace stallscope::collector
