#include "stream/report_buffer.h"

#include <algorithm>

namespace stallscope {

uint64_t ReportBuffer::Push(std::string bytes) {
  if (entries_.size() >= capacity_) {
    entries_.pop_front();
    ++dropped_;
  }
  uint64_t seq = next_seq_++;
  entries_.push_back({seq, std::move(bytes)});
  return seq;
}

std::vector<ReportBuffer::Entry> ReportBuffer::TakeUnsent(size_t max_count, size_t max_bytes) {
  std::vector<Entry> out;
  // Entries are seq-ascending: find the first unsent one.
  auto it = std::lower_bound(entries_.begin(), entries_.end(), next_send_seq_,
                             [](const Entry& e, uint64_t seq) { return e.seq < seq; });
  size_t bytes = 0;
  for (; it != entries_.end() && out.size() < max_count; ++it) {
    if (!out.empty() && bytes + it->bytes.size() > max_bytes) break;
    bytes += it->bytes.size();
    out.push_back(*it);
  }
  if (!out.empty()) next_send_seq_ = out.back().seq + 1;
  return out;
}

void ReportBuffer::Ack(uint64_t acked_through) {
  if (acked_through <= acked_through_) return;
  acked_through_ = acked_through;
  while (!entries_.empty() && entries_.front().seq <= acked_through) {
    entries_.pop_front();
    ++acked_;
  }
}

bool ReportBuffer::has_unsent() const { return !entries_.empty() && entries_.back().seq >= next_send_seq_; }

}  // namespace stallscope
