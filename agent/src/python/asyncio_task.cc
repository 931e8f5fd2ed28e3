#include "python/asyncio_task.h"

#include "python/remote_memory.h"

namespace stallscope {

absl::StatusOr<AsyncioLayout> ParseAsyncioDebugOffsets(std::span<const unsigned char> bytes) {
  if (bytes.size() < kAsyncioDebugBytes) return absl::InvalidArgumentError("section too small");
  auto word = [&](size_t i) { return Field<uint64_t>(bytes.data(), i * 8); };
  const uint64_t task_size = word(0), task_name = word(1), task_coro = word(5);
  const uint64_t tstate_size = word(9), running_loop = word(10), running_task = word(11);
  const bool consistent = task_size > 0 && task_size < (1 << 16) && task_name < task_size &&
                          task_coro < task_size && task_name % 8 == 0 && task_coro % 8 == 0 &&
                          task_name >= 16 && tstate_size > running_task &&
                          tstate_size < (1 << 20) && running_task % 8 == 0 &&
                          running_task == running_loop + 8;
  if (!consistent) return absl::InvalidArgumentError("unexpected asyncio debug offsets");
  return AsyncioLayout{.task_name = static_cast<uint32_t>(task_name),
                       .task_coro = static_cast<uint32_t>(task_coro),
                       .tstate_running_task = static_cast<uint32_t>(running_task)};
}

}  // namespace stallscope
