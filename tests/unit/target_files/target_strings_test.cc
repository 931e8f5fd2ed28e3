// Target strings made safe once (target_files/target_strings.h, common/safe_text.h): the
// attacks as a target makes them (a thread name set with prctl(PR_SET_NAME) to bytes that are
// not UTF-8, an OSC title sequence, a newline and a forged log line, U+FFFE in a function
// name) come out as valid UTF-8 without one control character, within the cap, and counted.
#include "target_files/target_strings.h"

#include <gtest/gtest.h>

#include "target_files/counters.h"

namespace stallscope {
namespace {

using target_files::Shed;
using target_files::ShedCount;

// Valid UTF-8 (strict: no overlong forms, no surrogates) without C0/C1 controls or DEL.
bool ValidAndPrintable(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff) return false;
    if ((cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff) return false;
    i += n;
  }
  return true;
}

TEST(TargetStrings, HonestNamesAreUnchanged) {
  for (const char* s : {"", "gunicorn", "handle_request", "Handler.get.<locals>.slow", "/srv/app/views.py",
                        "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "emoji \xf0\x9f\x90\x8d", "a\\x1b stays"}) {
    EXPECT_EQ(SanitizeTargetString(s), s);
    EXPECT_TRUE(IsSafeText(s, kMaxTargetStringBytes)) << s;
  }
}

TEST(TargetStrings, BytesThatAreNotUtf8BecomeReplacementCharactersAndAreCounted) {
  uint64_t before = ShedCount(Shed::kInvalidUtf8);
  // prctl(PR_SET_NAME, "\xff\xfe...") as the red team did; a lone continuation byte; an
  // overlong '/'; a UTF-8 encoded surrogate; beyond U+10FFFF; a sequence cut short.
  EXPECT_EQ(SanitizeTargetString("\xff\xfe" "evil", kMaxCommBytes), "\xef\xbf\xbd\xef\xbf\xbd" "evil");
  EXPECT_EQ(SanitizeTargetString("a\x80z"), "a\xef\xbf\xbdz");
  EXPECT_EQ(SanitizeTargetString("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(SanitizeTargetString("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(SanitizeTargetString("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(SanitizeTargetString("end\xe6\x97"), "end\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(ShedCount(Shed::kInvalidUtf8), before + 6);
}

TEST(TargetStrings, ControlCharactersBecomeVisibleEscapes) {
  // An OSC window title (ESC ] ... BEL), a CSI colour, and a newline forging a log line.
  EXPECT_EQ(SanitizeTargetString("\x1b]0;pwned\x07name"), "\\x1b]0;pwned\\x07name");
  EXPECT_EQ(SanitizeTargetString("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(SanitizeTargetString("w\n2026-12-07T10:00:00.000Z pid 1 tid 1: loop blocked 9.99 s"),
            "w\\n2026-12-07T10:00:00.000Z pid 1 tid 1: loop blocked 9.99 s");
  EXPECT_EQ(SanitizeTargetString("a\tb\rc\x7f"), "a\\tb\\rc\\x7f");
  EXPECT_EQ(SanitizeTargetString(std::string("nul\0x", 5)), "nul\\x00x");
  // C1 CSI (U+009B), bidi override (Trojan Source), line separator, the XML non-characters.
  EXPECT_EQ(SanitizeTargetString("\xc2\x9b" "31m"), "\\u009b31m");
  EXPECT_EQ(SanitizeTargetString("abc\xe2\x80\xae" "fed"), "abc\\u202efed");
  EXPECT_EQ(SanitizeTargetString("x\xe2\x80\xa8y"), "x\\u2028y");
  EXPECT_EQ(SanitizeTargetString("\xef\xbf\xbe\xef\xbf\xbf"), "\\ufffe\\uffff");
}

TEST(TargetStrings, CappedAtACharacterBoundaryAndMarked) {
  uint64_t before = ShedCount(Shed::kLongStrings);
  std::string cut = SanitizeTargetString(std::string(5000, 'a'));
  EXPECT_EQ(cut.size(), kMaxTargetStringBytes);
  EXPECT_EQ(cut.substr(cut.size() - 3), "...");
  // Never inside a multi-byte character or an escape.
  std::string snakes;
  for (int i = 0; i < 30; ++i) snakes += "\xf0\x9f\x90\x8d";
  std::string s = SanitizeTargetString(snakes, 32);
  EXPECT_LE(s.size(), 32u);
  EXPECT_TRUE(ValidAndPrintable(s));
  EXPECT_EQ(s, "\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d...");
  s = SanitizeTargetString(std::string(20, '\x1b'), 16);
  EXPECT_EQ(s, "\\x1b\\x1b\\x1b...");
  EXPECT_EQ(ShedCount(Shed::kLongStrings), before + 3);
}

TEST(TargetStrings, TheResultIsAFixedPoint) {
  for (std::string s : {std::string("\xff\x1b]0;t\x07\n\xef\xbf\xbe"), std::string(300, '\n'),
                        std::string("\xc2\x9b\xe2\x80\xae\\x1b"), std::string(100, '\xff')}) {
    std::string once = SanitizeTargetString(s, 64);
    EXPECT_TRUE(ValidAndPrintable(once)) << once;
    EXPECT_TRUE(IsSafeText(once, 64)) << once;
    EXPECT_EQ(SanitizeTargetString(once, 64), once);
  }
}

TEST(TargetStrings, InPlaceSaysWhetherItChanged) {
  std::string honest = "tornado", hostile = "a\nb";
  EXPECT_FALSE(SanitizeTargetStringInPlace(&honest));
  EXPECT_TRUE(SanitizeTargetStringInPlace(&hostile));
  EXPECT_EQ(hostile, "a\\nb");
}

}  // namespace
}  // namespace stallscope
