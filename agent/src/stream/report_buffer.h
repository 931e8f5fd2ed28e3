// The agent's in-memory buffer of reports on their way to a collector: bounded, ordered by
// seq, with a send cursor and acknowledgements. When full, the oldest report is dropped (and
// counted): after an outage the newest reports are the ones people look at.
// Not thread-safe; CollectorClient guards it.
#ifndef STALLSCOPE_AGENT_STREAM_REPORT_BUFFER_H_
#define STALLSCOPE_AGENT_STREAM_REPORT_BUFFER_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace stallscope {

class ReportBuffer {
 public:
  struct Entry {
    uint64_t seq;
    std::string bytes;  // serialized v1::Report
  };

  explicit ReportBuffer(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Returns the report's seq (1, 2, 3, ...).
  uint64_t Push(std::string bytes);
  // The next reports not yet sent on this stream, at most `max_count` and about `max_bytes`
  // (always at least one when any is unsent); moves the send cursor past them. Copies:
  // the buffer may drop them while they are on the wire.
  std::vector<Entry> TakeUnsent(size_t max_count, size_t max_bytes);
  // Everything up to `acked_through` is stored, or was refused (`rejected`, ascending: reports
  // the collector could not read): forget it. Returns how many of ours were refused.
  uint64_t Ack(uint64_t acked_through, const std::vector<uint64_t>& rejected = {});
  // Reports with seq in [first_seq, last_seq] can never be stored (the collector refused their
  // batch as malformed, or one does not even parse here): resending them would be refused
  // again, for ever. Drops them (counted as rejected); returns how many.
  uint64_t Reject(uint64_t first_seq, uint64_t last_seq);
  // A new stream: send again everything not acknowledged.
  void Rewind() { next_send_seq_ = 0; }

  bool has_unsent() const;
  size_t pending() const { return entries_.size(); }  // not yet acknowledged
  uint64_t dropped() const { return dropped_; }
  uint64_t acked() const { return acked_; }
  uint64_t rejected() const { return rejected_; }
  uint64_t last_seq() const { return next_seq_ - 1; }

 private:
  size_t capacity_;
  std::deque<Entry> entries_;  // unacknowledged, seq ascending
  uint64_t next_seq_ = 1;
  uint64_t next_send_seq_ = 0;  // entries with seq >= this are unsent on the current stream
  uint64_t dropped_ = 0;
  uint64_t acked_ = 0;
  uint64_t rejected_ = 0;
  uint64_t acked_through_ = 0;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_STREAM_REPORT_BUFFER_H_
