// The dashboard's files, compiled into the binary from collector/web/.
#ifndef STALLSCOPE_COLLECTOR_WEB_ASSETS_H_
#define STALLSCOPE_COLLECTOR_WEB_ASSETS_H_

#include "absl/strings/string_view.h"

namespace stallscope::collector {

// The file's contents, or "" when there is no such file.
absl::string_view WebAsset(absl::string_view name);

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_WEB_ASSETS_H_
