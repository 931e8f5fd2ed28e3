// Text that someone else chose (a traced process's names, paths and environment; an agent's
// strings at the collector) made printable everywhere: in a terminal, a log line, JSON,
// protobuf, XML/SVG and a Prometheus label.
//  - valid UTF-8: a byte that does not start or continue a valid sequence (overlong forms,
//    UTF-16 surrogates, beyond U+10FFFF included) becomes U+FFFD (protobuf refuses a string
//    field that is not UTF-8, and would refuse the whole message it travels in);
//  - no control or layout characters: C0 controls, DEL and C1 controls become visible
//    escapes (ESC is `\x1b`, newline `\n`, tab `\t`, U+009B `\u009b`), and so do the
//    characters that reorder or break lines on a terminal (bidi marks, embeddings, overrides
//    and isolates, U+2028/U+2029) and the two XML 1.0 forbids (U+FFFE, U+FFFF): no ESC/OSC/BEL
//    reaches a terminal, no newline forges a log line, every character is legal in XML;
//  - at most `max_bytes` bytes, cut between characters (never inside an escape) and marked
//    "...".
// The result is a fixed point (SafeText of it changes nothing), so a second, defensive pass
// before output costs one scan. A backslash is kept as it is: a target can spell "\x1b"
// itself, which is text and harmless.
#ifndef STALLSCOPE_COMMON_SAFE_TEXT_H_
#define STALLSCOPE_COMMON_SAFE_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace stallscope {

// The least `max_bytes` honoured (room for an escape and the "..." mark).
inline constexpr size_t kMinSafeTextCap = 16;

// What SafeText had to do, for the callers' counters.
struct SafeTextChanges {
  bool invalid_utf8 = false;
  bool cut = false;
};

std::string SafeText(std::string_view text, size_t max_bytes, SafeTextChanges* changes = nullptr);

// True when SafeText(text, max_bytes) == text.
bool IsSafeText(std::string_view text, size_t max_bytes);

}  // namespace stallscope

#endif  // STALLSCOPE_COMMON_SAFE_TEXT_H_
