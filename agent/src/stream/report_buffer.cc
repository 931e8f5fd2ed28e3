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

uint64_t ReportBuffer::Ack(uint64_t acked_through, const std::vector<uint64_t>& rejected) {
  if (acked_through <= acked_through_) return 0;
  acked_through_ = acked_through;
  uint64_t refused = 0;
  auto next_rejected = rejected.begin();
  while (!entries_.empty() && entries_.front().seq <= acked_through) {
    uint64_t seq = entries_.front().seq;
    entries_.pop_front();
    while (next_rejected != rejected.end() && *next_rejected < seq) ++next_rejected;
    bool was_rejected = next_rejected != rejected.end() && *next_rejected == seq;
    ++(was_rejected ? refused : acked_);
  }
  rejected_ += refused;
  return refused;
}

uint64_t ReportBuffer::Reject(uint64_t first_seq, uint64_t last_seq) {
  auto seq_less = [](const Entry& e, uint64_t seq) { return e.seq < seq; };
  auto first = std::lower_bound(entries_.begin(), entries_.end(), first_seq, seq_less);
  auto last = std::lower_bound(first, entries_.end(), last_seq + 1, seq_less);
  uint64_t n = static_cast<uint64_t>(last - first);
  entries_.erase(first, last);
  rejected_ += n;
  return n;
}

bool ReportBuffer::has_unsent() const { return !entries_.empty() && entries_.back().seq >= next_send_seq_; }

}  // namespace stallscope
