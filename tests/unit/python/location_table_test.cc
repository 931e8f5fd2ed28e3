#include "python/location_table.h"

#include <gtest/gtest.h>
#include <stdio.h>

#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "python/live_python.h"

namespace stallscope {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// Entry head byte: top bit, kind, length - 1.
int Head(int kind, int length) { return 0x80 | (kind << 3) | (length - 1); }

TEST(PythonLocationTable, DecodesEachEntryKind) {
  std::string table = Bytes({
      Head(0, 2),  0x05,                     // units 0-1: short form, same line (10)
      Head(11, 1), 3,           9,           // unit 2: one-line form, +1 (11)
      Head(13, 3), 0x08,                     // units 3-5: no columns, +4 (15)
      Head(15, 1),                           // unit 6: no location (-1)
      Head(14, 2), 0x03,        0,    1, 2,  // units 7-8: long form, -1 (14)
      Head(12, 8), 1,           2,           // units 9-16: one-line form, +2 (16)
      Head(13, 1), 0x40 | 0x00, 0x02,        // unit 17: +64 (two-byte varint 128 -> 64) (80)
  });
  const int expected[] = {10, 10, 11, 15, 15, 15, -1, 14, 14, 16, 16, 16, 16, 16, 16, 16, 16, 80};
  for (int unit = 0; unit < static_cast<int>(std::size(expected)); ++unit) {
    EXPECT_EQ(LineForCodeUnit(table, 10, unit), expected[unit]) << "unit " << unit;
  }
  EXPECT_EQ(LineForCodeUnit(table, 10, 18), std::nullopt);  // past the table
  EXPECT_EQ(LineForCodeUnit(table, 10, -1), 10);            // not started: first line
}

TEST(PythonLocationTable, RejectsMalformedTables) {
  EXPECT_EQ(LineForCodeUnit("", 1, 0), std::nullopt);
  EXPECT_EQ(LineForCodeUnit(Bytes({0x05}), 1, 0), std::nullopt);         // no entry start bit
  EXPECT_EQ(LineForCodeUnit(Bytes({Head(13, 1)}), 1, 0), std::nullopt);  // varint cut off
  EXPECT_EQ(LineForCodeUnit(Bytes({Head(13, 1), 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40}), 1, 0),
            std::nullopt);  // endless varint
}

TEST(PythonLocationTable, SurvivesGarbage) {
  std::mt19937 random(42);
  for (int round = 0; round < 2000; ++round) {
    std::string table(random() % 64, '\0');
    for (char& c : table) c = static_cast<char>(random());
    if (!table.empty()) table[0] = static_cast<char>(table[0] | 0x80);
    for (int unit : {0, 1, 7, 100, 100000}) {
      std::optional<int> line = LineForCodeUnit(table, static_cast<int>(random()), unit);
      (void)line;  // any answer, but no crash, hang or sanitizer report
    }
  }
}

// Every code object of a set of real modules: each code unit's line must be what CPython
// itself says (code.co_positions(), whose line is None exactly where PyCode_Addr2Line gives
// -1).
TEST(PythonLocationTable, MatchesCPythonOnRealCode) {
  constexpr char kDumper[] = R"PY(import importlib, sys
src = "def f(x):\n    return (x +\n        1)\n" + "\n" * 70000
src += "@staticmethod\ndef g():\n  pass\n"
src += "class K:\n    def m(self):\n        return [i for i in range(3) if i]\n"
src += "".join(f"v{i} = {i}\n" for i in range(400))
codes = [compile(src, "<gen>", "exec")]
for name in ["threading", "asyncio.base_events", "json.decoder", "typing", "dataclasses",
             "argparse", "inspect", "collections", "email.message", "http.server"]:
    module = importlib.import_module(name)
    codes.append(compile(open(module.__file__).read(), module.__file__, "exec"))
seen = 0
while codes:
    code = codes.pop()
    codes.extend(c for c in code.co_consts if hasattr(c, "co_linetable"))
    lines = ["-1" if p[0] is None else str(p[0]) for p in code.co_positions()]
    print(code.co_firstlineno, code.co_linetable.hex() or "-", ",".join(lines) or "-")
    seen += 1
print("DONE", seen)
)PY";
  auto dumper = testing::LivePython::Start(testing::kDebianPython, kDumper, "dump_lines.py");
  ASSERT_NE(dumper, nullptr);
  int code_objects = 0;
  long units = 0;
  for (std::optional<std::string> line = dumper->WaitForLine("");
       line.has_value() && !line->starts_with("DONE"); line = dumper->WaitForLine("")) {
    std::istringstream in(*line);
    int first_line;
    std::string hex, lines;
    ASSERT_TRUE(in >> first_line >> hex >> lines) << *line;
    std::string table;
    for (size_t i = 0; hex != "-" && i + 1 < hex.size(); i += 2) {
      table.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    std::istringstream expected_lines(lines == "-" ? "" : lines);
    std::string expected;
    for (int unit = 0; std::getline(expected_lines, expected, ','); ++unit, ++units) {
      ASSERT_EQ(LineForCodeUnit(table, first_line, unit), std::stoi(expected))
          << "code object at line " << first_line << ", unit " << unit << ", table " << hex;
    }
    ++code_objects;
  }
  EXPECT_GT(code_objects, 1000) << dumper->Stderr();
  printf("[ checked  ] %d code objects, %ld code units\n", code_objects, units);
}

}  // namespace
}  // namespace stallscope

namespace stallscope {
namespace {

std::string Pairs(std::initializer_list<int> bytes) {
  std::string table;
  for (int b : bytes) table.push_back(static_cast<char>(static_cast<uint8_t>(b)));
  return table;
}

// 3.10: (byte delta, line delta) pairs; -128 is "no line".
TEST(PythonLineTable310, RangesAndNoLine) {
  std::string table = Pairs({6, 1, 4, -128, 0, 3, 2, -1});
  for (int offset = 0; offset < 6; ++offset) {
    EXPECT_EQ(LineForByteOffset310(table, 10, offset), 11);
  }
  EXPECT_EQ(LineForByteOffset310(table, 10, 6), -1);
  EXPECT_EQ(LineForByteOffset310(table, 10, 9), -1);
  EXPECT_EQ(LineForByteOffset310(table, 10, 10), 13);  // 11 + 3 - 1 (empty range moves the line)
  EXPECT_EQ(LineForByteOffset310(table, 10, 11), 13);
  EXPECT_EQ(LineForByteOffset310(table, 10, 12), std::nullopt);  // past the table
  EXPECT_EQ(LineForByteOffset310(table, 10, -1), 10);            // not started
  EXPECT_EQ(LineForByteOffset310("", 10, 0), std::nullopt);
}

// 3.8, 3.9: (byte increment, line increment) pairs, signed line increments.
TEST(PythonLnotab, IncrementsApplyFromTheirAddress) {
  std::string table = Pairs({6, 1, 4, 2, 0, -1});
  for (int offset = 0; offset < 6; ++offset) {
    EXPECT_EQ(LineForByteOffsetLnotab(table, 10, offset), 10);
  }
  EXPECT_EQ(LineForByteOffsetLnotab(table, 10, 6), 11);
  EXPECT_EQ(LineForByteOffsetLnotab(table, 10, 9), 11);
  EXPECT_EQ(LineForByteOffsetLnotab(table, 10, 10), 12);  // 10 + 1 + 2 - 1
  EXPECT_EQ(LineForByteOffsetLnotab(table, 10, 500), 12);
  EXPECT_EQ(LineForByteOffsetLnotab("", 7, 4), 7);
  EXPECT_EQ(LineForByteOffsetLnotab(table, 10, -1), 10);
}

}  // namespace
}  // namespace stallscope
