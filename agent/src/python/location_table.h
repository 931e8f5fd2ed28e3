// Line numbers from a CPython 3.11+ code object's location table (co_linetable).
//
// The table is a sequence of entries, each covering 1-8 consecutive code units (2-byte
// instructions). The first byte of an entry has its top bit set; bits 3-6 give the kind and
// bits 0-2 the number of code units minus one. The kind says how the line changes relative to
// the previous entry's line (starting at co_firstlineno):
//   0-9   short form: same line (one more byte of column data)
//   10-12 one-line form: line + (kind - 10) (two bytes of columns)
//   13    no columns: line + signed varint
//   14    long form: line + signed varint, then end line, start and end column (varints)
//   15    no location: these instructions have no line (the running line is unchanged)
// Varints are little-endian 6-bit groups with 0x40 marking "more follows"; a signed varint
// stores (|v| << 1) | sign. Only the line is needed here, so after an entry's line delta the
// decoder skips to the next byte with the top bit set (no byte inside an entry has it).
#ifndef STALLSCOPE_AGENT_PYTHON_LOCATION_TABLE_H_
#define STALLSCOPE_AGENT_PYTHON_LOCATION_TABLE_H_

#include <optional>
#include <string_view>

namespace stallscope {

// The line of the instruction at code unit `code_unit` (byte offset / 2), as CPython's
// PyCode_Addr2Line computes it: -1 for an instruction without a line. nullopt when the table
// is malformed or does not reach `code_unit`. Negative `code_unit` (a frame that has not run
// its first instruction) gives `first_line`.
std::optional<int> LineForCodeUnit(std::string_view table, int first_line, int code_unit);

// Before 3.11 (positions are byte offsets into co_code; `first_line` is co_firstlineno):
//
// 3.10's co_linetable: (byte delta, line delta) pairs, the byte delta unsigned, the line delta
// signed with -128 meaning "no line". Each pair covers [start, start + byte delta) and moves the
// running line; a byte offset before 0 gives `first_line`, one without a line -1, and nullopt
// means the table does not reach it or is malformed.
std::optional<int> LineForByteOffset310(std::string_view table, int first_line, int byte_offset);

// 3.8 and 3.9's co_lnotab: (byte increment, line increment) pairs, the line increment signed;
// the line of `byte_offset` is first_line plus the line increments of the pairs whose address
// (running sum of byte increments) is at most `byte_offset`, as PyCode_Addr2Line computes it.
std::optional<int> LineForByteOffsetLnotab(std::string_view table, int first_line,
                                           int byte_offset);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_LOCATION_TABLE_H_
