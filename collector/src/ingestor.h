// The write path: agent batches queue here and one writer thread commits them in groups
// (one transaction for many batches, so fsyncs are shared), then acknowledges each. Also
// runs retention between commits.
#ifndef STALLSCOPE_COLLECTOR_INGESTOR_H_
#define STALLSCOPE_COLLECTOR_INGESTOR_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "metrics.h"
#include "store.h"

namespace stallscope::collector {

class Ingestor {
 public:
  struct Options {
    size_t max_group_reports = 20'000;       // reports per transaction, at most
    absl::Duration retention = absl::Hours(24 * 7);
    absl::Duration retention_interval = absl::Minutes(1);
    int retention_chunk = 20'000;            // reports deleted per transaction
  };
  // Called on the writer thread after the batch's transaction committed (or failed).
  using Done = std::function<void(const absl::Status& status, const IngestBatch& batch)>;

  Ingestor(Store* store, Metrics* metrics, Options options);
  ~Ingestor();

  void Start();
  // Commits what is queued, then stops the writer thread.
  void Stop();
  // Never blocks. Memory stays bounded because each stream has at most one batch queued
  // (it reads its next message only after the ack) and a message has a size limit.
  void Submit(std::unique_ptr<IngestBatch> batch, Done done);
  uint64_t queued_reports();

 private:
  struct Pending {
    std::unique_ptr<IngestBatch> batch;
    Done done;
  };
  void Run();
  void Commit(std::vector<Pending>& group);
  void MaybeExpire();

  Store* store_;
  Metrics* metrics_;
  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  uint64_t queued_reports_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  absl::Time next_expiry_ = absl::InfinitePast();
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_INGESTOR_H_
