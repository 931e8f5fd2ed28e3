// Reading another process's memory without stopping it (process_vm_readv), behind a small
// interface so the stack walker can be tested against fake memory.
#ifndef STALLSCOPE_AGENT_PYTHON_REMOTE_MEMORY_H_
#define STALLSCOPE_AGENT_PYTHON_REMOTE_MEMORY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "absl/status/status.h"

namespace stallscope {

// One range to copy: `size` bytes at `address` in the target into `buffer`.
struct RemoteRead {
  uint64_t address = 0;
  void* buffer = nullptr;
  size_t size = 0;
};

class RemoteMemory {
 public:
  virtual ~RemoteMemory() = default;

  // Copies every range, all or nothing: a range that is not fully readable fails the call.
  // Errors: NotFound (the process is gone), PermissionDenied, DataLoss (an unmapped address).
  virtual absl::Status ReadMany(std::span<const RemoteRead> reads) = 0;

  absl::Status Read(uint64_t address, void* buffer, size_t size) {
    RemoteRead read{.address = address, .buffer = buffer, .size = size};
    return ReadMany({&read, 1});
  }

  // Reads a trivially copyable value (a pointer, an int).
  template <typename T>
  absl::Status ReadValue(uint64_t address, T* value) {
    return Read(address, value, sizeof(T));
  }

  // How many process_vm_readv calls (or equivalent) were made: for tests and cost reports.
  uint64_t read_calls() const { return read_calls_; }

 protected:
  uint64_t read_calls_ = 0;
};

// The memory of a live process, read with process_vm_readv: the target is not stopped or
// changed; reads race with it, so callers validate what they read.
class ProcessMemory : public RemoteMemory {
 public:
  explicit ProcessMemory(pid_t pid) : pid_(pid) {}
  absl::Status ReadMany(std::span<const RemoteRead> reads) override;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

// Reads a little-endian field of type T at `offset` in a block already copied from the target.
// The caller guarantees offset + sizeof(T) <= block size (layouts are checked once, at startup).
template <typename T>
T Field(const unsigned char* block, size_t offset) {
  T value;
  memcpy(&value, block + offset, sizeof(T));
  return value;
}

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_REMOTE_MEMORY_H_
