// Converts the probes' timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC) to Unix time, so a stall
// can be matched with the application's own logs.
#ifndef STALLSCOPE_AGENT_CORE_CLOCK_H_
#define STALLSCOPE_AGENT_CORE_CLOCK_H_

#include <cstdint>

namespace stallscope {

class KernelClock {
 public:
  // Measures the offset between CLOCK_REALTIME and CLOCK_MONOTONIC now.
  static KernelClock Measure();
  // For tests: a fixed offset (unix_ns = kernel_ns + offset_ns).
  explicit KernelClock(int64_t offset_ns) : offset_ns_(offset_ns) {}

  uint64_t ToUnixNs(uint64_t kernel_ns) const { return static_cast<uint64_t>(kernel_ns + offset_ns_); }
  static uint64_t NowKernelNs();
  int64_t offset_ns() const { return offset_ns_; }

 private:
  int64_t offset_ns_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CORE_CLOCK_H_
