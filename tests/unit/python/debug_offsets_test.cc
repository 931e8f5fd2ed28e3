// _Py_DebugOffsets as real interpreters publish them: the .PyRuntime section of pyenv's 3.13.0
// and of Debian trixie's 3.13 and sid's 3.14 / 3.14-dbg (roots from scripts/python-roots.sh,
// skipped with the reason when absent), read from the file as the process would hold it at
// start; and offsets that do not fit the known field order are refused.
#include "python/debug_offsets.h"

#include "python/asyncio_task.h"
#include "python/python_strings.h"
#include "python/debug_offsets_samples.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stallscope {
namespace {

constexpr char kRoots[] = "/var/cache/stallscope/roots";

// The first kDebugOffsetsReadBytes of the ELF section .PyRuntime, empty if none.
std::vector<unsigned char> PyRuntimeSection(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> file((std::istreambuf_iterator<char>(in)), {});
  if (file.size() < sizeof(Elf64_Ehdr)) return {};
  Elf64_Ehdr ehdr;
  memcpy(&ehdr, file.data(), sizeof(ehdr));
  if (ehdr.e_shoff + uint64_t{ehdr.e_shnum} * sizeof(Elf64_Shdr) > file.size()) return {};
  auto section = [&](int i) {
    Elf64_Shdr shdr;
    memcpy(&shdr, file.data() + ehdr.e_shoff + i * sizeof(Elf64_Shdr), sizeof(shdr));
    return shdr;
  };
  Elf64_Shdr names = section(ehdr.e_shstrndx);
  for (int i = 0; i < ehdr.e_shnum; ++i) {
    Elf64_Shdr shdr = section(i);
    const char* name = reinterpret_cast<const char*>(file.data() + names.sh_offset + shdr.sh_name);
    if (strcmp(name, ".PyRuntime") == 0 && shdr.sh_offset + kDebugOffsetsReadBytes <= file.size()) {
      return {file.begin() + shdr.sh_offset,
              file.begin() + shdr.sh_offset + kDebugOffsetsReadBytes};
    }
  }
  return {};
}

TEST(DebugOffsets, Pyenv313MatchesItsVerifiedOffsets) {
  std::vector<unsigned char> bytes =
      PyRuntimeSection("/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0");
  if (bytes.empty()) GTEST_SKIP() << "pyenv's 3.13.0 is not installed";
  ASSERT_EQ(DebugOffsetsVersion(bytes), 0x030d00f0u);
  absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(bytes);
  ASSERT_TRUE(layout.ok()) << layout.status();
  // The offsets verified with offsetof() on 3.13.0's headers (the table used before 3.13
  // layouts came from the process itself).
  EXPECT_STREQ(layout->series, "3.13");
  EXPECT_FALSE(layout->free_threaded);
  EXPECT_EQ(layout->runtime_interpreters_head, 0x278u);
  EXPECT_EQ(layout->runtime_interpreters_main, 0x280u);
  EXPECT_EQ(layout->interp_ceval_gil, 0x10u);
  EXPECT_EQ(layout->gil_last_holder, 0x08u);
  EXPECT_EQ(layout->gil_locked, 0x10u);
  EXPECT_EQ(layout->interp_next, 0x1c60u);
  EXPECT_EQ(layout->interp_threads_head, 0x1cb0u);
  EXPECT_EQ(layout->tstate_next, 0x08u);
  EXPECT_EQ(layout->tstate_current_frame, 0x48u);
  EXPECT_EQ(layout->tstate_native_thread_id, 0xa0u);
  EXPECT_EQ(layout->tstate_datastack_chunk, 0xe8u);
  EXPECT_EQ(layout->tstate_datastack_top, 0xf0u);
  EXPECT_EQ(layout->tstate_datastack_limit, 0xf8u);
  EXPECT_EQ(layout->frame_code, 0x00u);
  EXPECT_EQ(layout->frame_previous, 0x08u);
  EXPECT_EQ(layout->frame_instr, 0x38u);
  EXPECT_EQ(layout->frame_owner, 0x46u);
  EXPECT_EQ(layout->frame_owner_cstack, 3);
  EXPECT_EQ(layout->code_firstlineno, 0x44u);
  EXPECT_EQ(layout->code_filename, 0x70u);
  EXPECT_EQ(layout->code_name, 0x78u);
  EXPECT_EQ(layout->code_qualname, 0x80u);
  EXPECT_EQ(layout->code_linetable, 0x88u);
  EXPECT_EQ(layout->code_firsttraceable, 0xb8u);
  EXPECT_EQ(layout->code_framesize, 0x4cu);
  EXPECT_EQ(layout->code_bytecode, 0xc8u);
  EXPECT_EQ(layout->unicode_length, 0x10u);
  EXPECT_EQ(layout->unicode_state, 0x20u);
  EXPECT_EQ(layout->unicode_ascii_data, 40u);
  EXPECT_EQ(layout->unicode_compact_data, 56u);
  EXPECT_EQ(layout->bytes_data, 0x20u);
  EXPECT_EQ(layout->object_type, 0x08u);
  EXPECT_EQ(layout->var_object_size, 0x10u);
  EXPECT_EQ(layout->frame_tlbc_index, kNoField);
}

struct RootCase {
  const char* name;
  const char* path;  // under kRoots
  uint32_t minor;
  uint32_t frame_owner;
  uint32_t code_bytecode;
};

class DebugOffsetsRoots : public ::testing::TestWithParam<RootCase> {};

TEST_P(DebugOffsetsRoots, ParsesTheInterpretersOwnLayout) {
  const RootCase& c = GetParam();
  std::vector<unsigned char> bytes = PyRuntimeSection(std::string(kRoots) + "/" + c.path);
  if (bytes.empty()) {
    GTEST_SKIP() << kRoots << "/" << c.path << " absent: run scripts/python-roots.sh";
  }
  std::optional<uint64_t> version = DebugOffsetsVersion(bytes);
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ((*version >> 16) & 0xff, c.minor);
  absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(bytes);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->frame_owner, c.frame_owner);
  EXPECT_EQ(layout->code_bytecode, c.code_bytecode);
  EXPECT_EQ(layout->tstate_current_frame, 0x48u);
  EXPECT_FALSE(layout->free_threaded);
}

INSTANTIATE_TEST_SUITE_P(
    Debian, DebugOffsetsRoots,
    ::testing::Values(RootCase{"Trixie313", "trixie/usr/bin/python3.13", 13, 0x46, 0xc8},
                      RootCase{"Sid314", "sid/usr/bin/python3.14", 14, 0x4a, 0xd0},
                      RootCase{"Sid314Debug", "sid/usr/bin/python3.14d", 14, 0x4a, 0xd0}),
    [](const auto& info) { return std::string(info.param.name); });

// The free-threaded 3.13.5 that scripts/python-roots.sh builds into the trixie root (or the
// same build elsewhere on this machine).
const char* const kFreeThreaded313Paths[] = {
    "/var/cache/stallscope/roots/trixie/opt/python3.13t/bin/python3.13t",
    "/var/cache/stallscope-ft/py313t/bin/python3.13t",
};

TEST(DebugOffsets, FreeThreaded313tBinaryPublishesTheSampleWords) {
  for (const char* path : kFreeThreaded313Paths) {
    std::vector<unsigned char> bytes = PyRuntimeSection(path);
    if (bytes.empty()) continue;
    ASSERT_EQ(DebugOffsetsVersion(bytes), 0x030d05f0u) << path;
    // The header and the words the reader knows; the rest of _PyRuntime follows them.
    std::vector<unsigned char> sample =
        testing::DebugOffsetsBytes(0x030d05f0, 1, testing::kDebugOffsets313t);
    size_t known = 24 + sizeof(testing::kDebugOffsets313t);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.begin() + known, sample.begin()))
        << path << " publishes other words than kDebugOffsets313t";
    absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(bytes);
    ASSERT_TRUE(layout.ok()) << layout.status();
    EXPECT_TRUE(layout->free_threaded);
    return;
  }
  printf("[ skipped  ] no free-threaded 3.13 here: run scripts/python-roots.sh trixie-ft\n");
  GTEST_SKIP() << "no free-threaded 3.13: run scripts/python-roots.sh trixie-ft";
}

TEST(DebugOffsets, FreeThreaded313tLayout) {
  absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(
      testing::DebugOffsetsBytes(0x030d05f0, 1, testing::kDebugOffsets313t));
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_STREQ(layout->series, "3.13");
  EXPECT_TRUE(layout->free_threaded);
  // PyObject grows by ob_tid, ob_flags, ob_mutex, ob_gc_bits, ob_ref_local, ob_ref_shared.
  EXPECT_EQ(layout->object_type, 0x18u);
  EXPECT_EQ(layout->var_object_size, 0x20u);
  EXPECT_EQ(layout->code_filename, 0x80u);
  EXPECT_EQ(layout->code_qualname, 0x90u);
  EXPECT_EQ(layout->code_linetable, 0x98u);
  EXPECT_EQ(layout->code_firstlineno, 0x54u);
  EXPECT_EQ(layout->code_bytecode, 0xd8u);
  EXPECT_EQ(layout->unicode_length, 0x20u);
  EXPECT_EQ(layout->unicode_state, 0x30u);
  EXPECT_EQ(layout->unicode_ascii_data, 0x38u);
  EXPECT_EQ(layout->bytes_data, 0x30u);
  // No per-thread bytecode before 3.14.
  EXPECT_EQ(layout->frame_tlbc_index, kNoField);
  EXPECT_EQ(layout->code_tlbc, kNoField);
}

// 3.13t's PyASCIIObject.state is still {interned:2, kind:3, compact:1, ascii:1, ...} (3.14t
// made `interned` a byte): a name as the interpreter lays it out must parse. Reading kind after
// a byte here made every frame of a live 3.13t process unnamed.
TEST(DebugOffsets, FreeThreaded313tStrStateBits) {
  absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(
      testing::DebugOffsetsBytes(0x030d05f0, 1, testing::kDebugOffsets313t));
  ASSERT_TRUE(layout.ok()) << layout.status();
  constexpr uint64_t kStrType = 0x1234560;
  std::vector<unsigned char> header(layout->unicode_ascii_data, 0);
  memcpy(header.data() + layout->object_type, &kStrType, 8);
  int64_t length = 9;
  memcpy(header.data() + layout->unicode_length, &length, 8);
  // interned 2 (immortal), kind 1, compact, ascii: as CPython's bit fields place them.
  uint32_t state = 2u | (1u << 2) | (1u << 5) | (1u << 6);
  memcpy(header.data() + layout->unicode_state, &state, 4);
  std::optional<StrShape> shape = ParseStrHeader(header.data(), *layout, kStrType, 100);
  ASSERT_TRUE(shape.has_value());
  EXPECT_TRUE(shape->ascii);
  EXPECT_EQ(shape->char_width, 1);
  EXPECT_EQ(shape->length, 9u);
  EXPECT_EQ(shape->data_offset, 0x38u);
}

// A synthetic 3.14-shaped blob: the header, then words at the given indexes.
std::vector<unsigned char> Blob(uint64_t version, uint64_t free_threaded) {
  std::vector<unsigned char> bytes(kDebugOffsetsReadBytes, 0);
  memcpy(bytes.data(), "xdebugpy", 8);
  memcpy(bytes.data() + 8, &version, 8);
  memcpy(bytes.data() + 16, &free_threaded, 8);
  return bytes;
}

TEST(DebugOffsets, WithoutCookieIsNotDebugOffsets) {
  std::vector<unsigned char> bytes(kDebugOffsetsReadBytes, 0);
  EXPECT_FALSE(DebugOffsetsVersion(bytes).has_value());
  EXPECT_TRUE(absl::IsInvalidArgument(LayoutFromDebugOffsets(bytes).status()));
}

TEST(DebugOffsets, InconsistentOffsetsAreRefusedNamingTheVersion) {
  // 3.15 with all-zero tables: nothing fits 3.14's order.
  absl::StatusOr<CPythonLayout> layout = LayoutFromDebugOffsets(Blob(0x030f00f0, 0));
  ASSERT_TRUE(absl::IsUnimplemented(layout.status()));
  EXPECT_NE(layout.status().message().find("CPython 3.15.0 layout unknown"), std::string::npos)
      << layout.status();
}

TEST(DebugOffsets, ShiftedTableIsRefused) {
  std::vector<unsigned char> bytes =
      PyRuntimeSection(std::string(kRoots) + "/sid/usr/bin/python3.14");
  if (bytes.empty()) GTEST_SKIP() << "sid root absent: run scripts/python-roots.sh";
  // A future version that inserted one field at the start of interpreter_state: every later
  // word moves by one.
  bytes.insert(bytes.begin() + 8 * 7, 8, 0);
  bytes.resize(kDebugOffsetsReadBytes);
  uint64_t version = 0x030f00f0;
  memcpy(bytes.data() + 8, &version, 8);
  EXPECT_TRUE(absl::IsUnimplemented(LayoutFromDebugOffsets(bytes).status()));
}

TEST(DebugOffsets, TruncatedOrOddHeaderIsRefused) {
  std::vector<unsigned char> bytes = Blob(0x030e00f0, 7);  // free_threaded must be 0 or 1
  EXPECT_TRUE(absl::IsUnimplemented(LayoutFromDebugOffsets(bytes).status()));
  bytes = Blob(0x030e00f0, 0);
  bytes.resize(64);
  EXPECT_FALSE(LayoutFromDebugOffsets(bytes).ok());
}

// Debian sid's _asyncio.cpython-314-x86_64-linux-gnu.so, section .AsyncioDebug.
TEST(AsyncioDebugOffsets, ParsesSid314AndRefusesShiftedOnes) {
  uint64_t words[13] = {0xa8, 0x88, 0x60, 0x6c, 0x6d, 0x80, 0x98,
                        0x37248, 0x2a80, 0x3a8, 0x360, 0x368, 0x370};
  std::vector<unsigned char> bytes(sizeof(words));
  memcpy(bytes.data(), words, sizeof(words));
  absl::StatusOr<AsyncioLayout> layout = ParseAsyncioDebugOffsets(bytes);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->task_name, 0x88u);
  EXPECT_EQ(layout->task_coro, 0x80u);
  EXPECT_EQ(layout->tstate_running_task, 0x368u);
  // One more field in the task table: everything after it moves.
  memmove(bytes.data() + 8 * 3, bytes.data() + 8 * 2, bytes.size() - 8 * 3);
  EXPECT_FALSE(ParseAsyncioDebugOffsets(bytes).ok());
  EXPECT_FALSE(ParseAsyncioDebugOffsets(std::span<const unsigned char>(bytes.data(), 40)).ok());
}

}  // namespace
}  // namespace stallscope
