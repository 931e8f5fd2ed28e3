#include "target_files/target_strings.h"

#include "target_files/counters.h"

namespace stallscope {

std::string SanitizeTargetString(std::string_view text, size_t max_bytes) {
  SafeTextChanges changes;
  std::string out = SafeText(text, max_bytes, &changes);
  if (changes.invalid_utf8) target_files::CountShed(target_files::Shed::kInvalidUtf8);
  if (changes.cut) target_files::CountShed(target_files::Shed::kLongStrings);
  return out;
}

bool SanitizeTargetStringInPlace(std::string* text, size_t max_bytes) {
  if (IsSafeText(*text, max_bytes)) return false;
  *text = SanitizeTargetString(*text, max_bytes);
  return true;
}

}  // namespace stallscope
