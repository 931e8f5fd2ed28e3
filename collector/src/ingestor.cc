#include "ingestor.h"

#include <chrono>
#include <cstdio>

namespace stallscope::collector {

Ingestor::Ingestor(Store* store, Metrics* metrics, Options options)
    : store_(store), metrics_(metrics), options_(options) {}

Ingestor::~Ingestor() { Stop(); }

void Ingestor::Start() { thread_ = std::thread([this] { Run(); }); }

void Ingestor::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ingestor::Submit(std::unique_ptr<IngestBatch> batch, Done done) {
  {
    std::lock_guard lock(mu_);
    queued_reports_ += batch->rows.size();
    queue_.push_back({std::move(batch), std::move(done)});
  }
  cv_.notify_one();
}

uint64_t Ingestor::queued_reports() {
  std::lock_guard lock(mu_);
  return queued_reports_;
}

void Ingestor::Run() {
  while (true) {
    std::vector<Pending> group;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      size_t reports = 0;
      while (!queue_.empty() && (group.empty() || reports + queue_.front().batch->rows.size() <= options_.max_group_reports)) {
        reports += queue_.front().batch->rows.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!group.empty()) Commit(group);
    MaybeExpire();
  }
}

void Ingestor::Commit(std::vector<Pending>& group) {
  std::vector<IngestBatch*> batches;
  for (Pending& p : group) batches.push_back(p.batch.get());
  auto start = std::chrono::steady_clock::now();
  absl::Status st = store_->Write(batches);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<absl::Status> results(group.size(), st);
  if (!st.ok()) {
    metrics_->OnStoreError();
    fprintf(stderr, "stallscope-collector: store: %s\n", std::string(st.message()).c_str());
    // One bad batch must not fail its neighbours: retry each on its own.
    if (group.size() > 1) {
      for (size_t i = 0; i < group.size(); ++i) {
        IngestBatch* one[] = {batches[i]};
        results[i] = store_->Write(one);
        if (!results[i].ok()) metrics_->OnStoreError();
      }
    }
  }
  uint64_t done_reports = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    if (results[i].ok()) metrics_->OnStored(*group[i].batch, seconds);
    done_reports += group[i].batch->rows.size();
  }
  {
    std::lock_guard lock(mu_);
    queued_reports_ -= done_reports;
  }
  for (size_t i = 0; i < group.size(); ++i) group[i].done(results[i], *group[i].batch);
}

void Ingestor::MaybeExpire() {
  absl::Time now = absl::Now();
  if (now < next_expiry_) return;
  absl::Time cutoff = now - options_.retention;
  uint64_t cutoff_ns = cutoff < absl::UnixEpoch() ? 0 : static_cast<uint64_t>(absl::ToUnixNanos(cutoff));
  auto deleted = store_->DeleteBefore(cutoff_ns, options_.retention_chunk);
  if (!deleted.ok()) {
    metrics_->OnStoreError();
    fprintf(stderr, "stallscope-collector: retention: %s\n", std::string(deleted.status().message()).c_str());
    next_expiry_ = now + options_.retention_interval;
    return;
  }
  metrics_->OnDeleted(static_cast<uint64_t>(*deleted));
  // More to delete: continue right after the next commit, in chunks that keep commits quick.
  next_expiry_ = *deleted >= options_.retention_chunk ? now : now + options_.retention_interval;
}

}  // namespace stallscope::collector
