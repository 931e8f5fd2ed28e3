// Turns one AgentMessage of a stream into an IngestBatch, or says precisely what is wrong
// with it (the stream then ends with that status and nothing of the message is stored). A
// report that cannot be read is not an error of the message: it is refused alone (its row
// marked malformed, its seq consumed and named in the ack), so one target's poisoned name
// cannot stop a node's stream.
#ifndef STALLSCOPE_COLLECTOR_BATCH_BUILDER_H_
#define STALLSCOPE_COLLECTOR_BATCH_BUILDER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "stallscope/v1/collector.pb.h"
#include "store.h"

namespace stallscope::collector {

inline constexpr size_t kMaxReportsPerMessage = 10'000;
// A report dated further ahead than this is refused: retention would never remove it.
inline constexpr uint64_t kMaxFutureNs = 600'000'000'000;

// Identity strings are labels and keys: bounded.
absl::Status ValidateIdentity(const v1::AgentIdentity& identity);

// Per-stream state: the identity from the first message and the last seq seen.
class BatchBuilder {
 public:
  // Reports dated before now - `retention` or after now + 10 min are marked refused.
  explicit BatchBuilder(uint64_t retention_ns = 7ull * 24 * 3600 * 1'000'000'000) : retention_ns_(retention_ns) {}
  absl::StatusOr<std::unique_ptr<IngestBatch>> Build(const v1::AgentMessageFrames& message, uint64_t now_ns);
  // The same from a parsed AgentMessage (tests, tools): its bytes read as frames.
  absl::StatusOr<std::unique_ptr<IngestBatch>> Build(const v1::AgentMessage& message, uint64_t now_ns);
  bool has_identity() const { return has_identity_; }
  const v1::AgentIdentity& identity() const { return identity_; }

 private:
  uint64_t retention_ns_;
  bool has_identity_ = false;
  v1::AgentIdentity identity_;
  std::string identity_bytes_;
  uint64_t last_seq_ = 0;
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_BATCH_BUILDER_H_
