// Converts the kernel's CLOCK_BOOTTIME timestamps (bpf_ktime_get_boot_ns) to Unix time, so a
// stall can be matched with the application's own logs.
#ifndef STALLSCOPE_AGENT_CORE_CLOCK_H_
#define STALLSCOPE_AGENT_CORE_CLOCK_H_

#include <cstdint>

namespace stallscope {

class BootClock {
 public:
  // Measures the offset between CLOCK_REALTIME and CLOCK_BOOTTIME now.
  static BootClock Measure();
  // For tests: a fixed offset (unix_ns = boot_ns + offset_ns).
  explicit BootClock(int64_t offset_ns) : offset_ns_(offset_ns) {}

  uint64_t ToUnixNs(uint64_t boot_ns) const { return static_cast<uint64_t>(boot_ns + offset_ns_); }
  static uint64_t NowBootNs();
  int64_t offset_ns() const { return offset_ns_; }

 private:
  int64_t offset_ns_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CORE_CLOCK_H_
