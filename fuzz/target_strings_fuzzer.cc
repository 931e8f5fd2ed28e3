// Target strings (any bytes a process puts in its names, paths, environment): the result of
// SanitizeTargetString must always be valid UTF-8, within its cap, free of raw control and
// layout characters and of the characters XML 1.0 forbids, and a fixed point. The first input
// byte chooses the cap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "target_files/target_strings.h"

namespace {

// Strict UTF-8 decoding, written apart from the sanitizer's own (a shared bug would hide).
bool CheckSafe(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = c & (0xff >> (n + 1));
    for (size_t k = 1; k < n; ++k) {
      unsigned char d = s[i + k];
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;  // overlong, out, surrogate
    if (cp <= 0x9f || cp == 0xfffe || cp == 0xffff) return false;                          // C1, XML non-characters
    if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
      return false;                                                                        // line breaks, bidi
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t cap = static_cast<size_t>(data[0]) * 17;  // 0 .. 4335: below the minimum, honest, over the default
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string safe = stallscope::SanitizeTargetString(text, cap);
  if (!CheckSafe(safe)) abort();
  if (safe.size() > std::max(cap, stallscope::kMinSafeTextCap)) abort();
  if (!stallscope::IsSafeText(safe, cap) || stallscope::SanitizeTargetString(safe, cap) != safe) abort();
  // Honest text comes out unchanged.
  if (stallscope::IsSafeText(text, cap) && safe != text) abort();
  return 0;
}
