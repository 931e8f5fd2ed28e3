#include "web_assets.h"

namespace stallscope::collector {
namespace {

struct Asset {
  const char* name;
  const char* body;
};

const Asset kAssets[] = {
#include "web_assets.inc"
};

}  // namespace

absl::string_view WebAsset(absl::string_view name) {
  for (const Asset& a : kAssets)
    if (name == a.name) return a.body;
  return "";
}

}  // namespace stallscope::collector
