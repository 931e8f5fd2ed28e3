// Strings a target chooses enter the agent through here, once: thread and process names
// (/proc, BPF events), Python function, file, task and thread names read from its memory,
// ELF symbol and perf-map names, fd paths, service names and labels from its cmdline and
// environment, container metadata. They leave as SafeText (common/safe_text.h: valid UTF-8,
// control and layout characters as visible escapes, XML-legal, capped), so every output can
// print them, and a poisoned name never sinks a collector batch. Replaced bytes and cuts are
// counted (sheds "invalid_utf8", "long_strings"; agentStats shedInvalidUtf8, shedLongStrings).
#ifndef STALLSCOPE_AGENT_TARGET_FILES_TARGET_STRINGS_H_
#define STALLSCOPE_AGENT_TARGET_FILES_TARGET_STRINGS_H_

#include <string>
#include <string_view>

#include "safe_text.h"

namespace stallscope {

// Default cap: longer than any honest name or path the agent reports (file names are read
// up to 4 KiB from target memory).
inline constexpr size_t kMaxTargetStringBytes = 4096;
// Service names, apps, pod and container names: labels and keys, kept short.
inline constexpr size_t kMaxLabelTextBytes = 256;
// A comm is at most 15 bytes (TASK_COMM_LEN), each at most a 4-byte escape.
inline constexpr size_t kMaxCommBytes = 64;

// The safe form of `text`; counts invalid and cut strings.
std::string SanitizeTargetString(std::string_view text, size_t max_bytes = kMaxTargetStringBytes);

// In place; true if it changed.
bool SanitizeTargetStringInPlace(std::string* text, size_t max_bytes = kMaxTargetStringBytes);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_TARGET_FILES_TARGET_STRINGS_H_
