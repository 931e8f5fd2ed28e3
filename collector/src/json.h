// Minimal JSON output for the query API's envelopes; reports themselves are printed by
// protobuf's proto3 JSON mapping.
#ifndef STALLSCOPE_COLLECTOR_JSON_H_
#define STALLSCOPE_COLLECTOR_JSON_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace stallscope::collector {

// A quoted JSON string; invalid UTF-8 bytes become U+FFFD so the output always parses.
std::string JsonString(absl::string_view s);

// Appends `"key":` (with a leading comma unless `first`).
void JsonKey(std::string& out, absl::string_view key, bool& first);

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_JSON_H_
