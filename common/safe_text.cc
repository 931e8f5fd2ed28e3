#include "safe_text.h"

#include <algorithm>
#include <cstdint>

namespace stallscope {
namespace {

constexpr std::string_view kCutMark = "...";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The code point of the valid UTF-8 sequence at the start of `s` and its length; length 0
// when the first byte does not start one (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF).
struct Decoded {
  uint32_t cp = 0;
  size_t len = 0;
};
Decoded Decode(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  uint8_t c = b(0);
  if (c < 0x80) return {c, 1};
  size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (len == 0 || s.size() < len) return {};
  // The second byte's range depends on the first (this is what excludes overlong forms,
  // surrogates and code points past U+10FFFF).
  uint8_t lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
  uint8_t hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
  if (b(1) < lo || b(1) > hi) return {};
  uint32_t cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  return {cp, len};
}

// Characters printed as a visible escape: controls, the characters that reorder or break
// lines on a terminal, and the two XML 1.0 forbids.
bool NeedsEscape(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFFFE || cp == 0xFFFF;
}

void AppendEscape(uint32_t cp, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (cp) {
    case '\n': *out += "\\n"; return;
    case '\t': *out += "\\t"; return;
    case '\r': *out += "\\r"; return;
    default: break;
  }
  if (cp < 0x80) {
    *out += "\\x";
    out->push_back(kHex[cp >> 4]);
    out->push_back(kHex[cp & 0xF]);
    return;
  }
  *out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(cp >> shift) & 0xF]);
}

// One pass for both: `out` null only checks. Stops at the first change when only checking.
bool Sanitize(std::string_view text, size_t max_bytes, std::string* out, SafeTextChanges* changes) {
  max_bytes = std::max(max_bytes, kMinSafeTextCap);
  if (out == nullptr && text.size() > max_bytes) return false;
  std::string unit;
  size_t fits = 0;  // the longest prefix of *out that leaves room for the cut mark
  bool invalid = false, cut = false;
  for (size_t i = 0; i < text.size();) {
    Decoded d = Decode(text.substr(i));
    unit.clear();
    if (d.len == 0) {
      invalid = true;
      unit = kReplacement;
      i += 1;
    } else if (NeedsEscape(d.cp)) {
      AppendEscape(d.cp, &unit);
      i += d.len;
    } else {
      unit = text.substr(i, d.len);
      i += d.len;
    }
    if (out == nullptr) {
      if (d.len == 0 || NeedsEscape(d.cp)) return false;
      continue;
    }
    if (out->size() + unit.size() > max_bytes) {
      cut = true;
      break;
    }
    *out += unit;
    if (out->size() + kCutMark.size() <= max_bytes) fits = out->size();
  }
  if (out == nullptr) return true;
  if (cut) {
    out->resize(fits);
    *out += kCutMark;
  }
  if (changes != nullptr) *changes = {invalid, cut};
  return true;
}

}  // namespace

std::string SafeText(std::string_view text, size_t max_bytes, SafeTextChanges* changes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  Sanitize(text, max_bytes, &out, changes);
  return out;
}

bool IsSafeText(std::string_view text, size_t max_bytes) { return Sanitize(text, max_bytes, nullptr, nullptr); }

}  // namespace stallscope
