// Naming the asyncio Task a thread is running, from CPython 3.14's own description of its
// _asyncio module (_Py_AsyncioModuleDebugOffsets, in the module's .AsyncioDebug section, the
// data `python -m asyncio ps` uses): where a thread state keeps its running task, and where a
// Task keeps its name and coroutine.
#ifndef STALLSCOPE_AGENT_PYTHON_ASYNCIO_TASK_H_
#define STALLSCOPE_AGENT_PYTHON_ASYNCIO_TASK_H_

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"

namespace stallscope {

// Bytes of the section to copy (3.14: 13 words).
inline constexpr size_t kAsyncioDebugBytes = 13 * 8;

struct AsyncioLayout {
  uint32_t task_name = 0;            // TaskObj.task_name: a str, or an int N for "Task-N"
  uint32_t task_coro = 0;            // TaskObj.task_coro
  uint32_t tstate_running_task = 0;  // _PyThreadStateImpl.asyncio_running_task
};

// Parses the section: {asyncio_task_object: size, task_name, task_awaited_by, task_is_task,
// task_awaited_by_is_set, task_coro, task_node}, {asyncio_interpreter_state: size,
// asyncio_tasks_head}, {asyncio_thread_state: size, asyncio_running_loop, asyncio_running_task,
// asyncio_tasks_head}. InvalidArgument when the offsets are not consistent with that order.
absl::StatusOr<AsyncioLayout> ParseAsyncioDebugOffsets(std::span<const unsigned char> bytes);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_ASYNCIO_TASK_H_
