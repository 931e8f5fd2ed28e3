// The guard before every output: a report whose strings a target poisoned (one an entry point
// missed) reaches the text, log and JSON writers as safe text: valid UTF-8 (the JSON parses,
// the protobuf serializes and parses again), no ESC, BEL or newline, and the log keeps one
// line per report.
#include "output/safe_text_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "output/log_writer.h"
#include "target_files/counters.h"

namespace stallscope {
namespace {

std::string Captured(FILE* f) {
  fflush(f);
  rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

v1::Report Poisoned() {
  v1::Report r;
  r.mutable_process()->set_service("svc\xff\n2026-12-07T10:00:00.000Z fake pid 1 tid 1: loop blocked 9 s");
  v1::LoopBlock* b = r.mutable_loop_block();
  b->set_pid(7);
  b->set_tid(7);
  b->set_duration_ns(300'000'000);
  b->set_comm("\xff\xfe\x1b]0;owned\x07");
  b->set_process_comm("ok");
  v1::Frame* f = b->add_stack();
  f->set_function("\x1b[2J\xef\xbf\xbe");
  f->set_file("/srv/\n.py");
  f->set_kind(v1::Frame::PYTHON);
  return r;
}

bool HasRawControl(const std::string& s, bool allow_newline) {
  for (char c : s)
    if ((static_cast<unsigned char>(c) < 0x20 && !(allow_newline && c == '\n')) || c == 0x7f) return true;
  return false;
}

TEST(SafeTextWriter, FindsAndFixesEveryPoisonedStringNestedOrNot) {
  v1::Report r = Poisoned();
  EXPECT_FALSE(HasOnlySafeStrings(r));
  uint64_t before = target_files::ShedCount(target_files::Shed::kInvalidUtf8);
  EXPECT_EQ(MakeStringsSafe(&r), 4);  // service, comm, function, file
  EXPECT_TRUE(HasOnlySafeStrings(r));
  EXPECT_EQ(target_files::ShedCount(target_files::Shed::kInvalidUtf8), before + 2);
  EXPECT_EQ(r.loop_block().comm(), "\xef\xbf\xbd\xef\xbf\xbd\\x1b]0;owned\\x07");
  EXPECT_EQ(r.loop_block().stack(0).function(), "\\x1b[2J\\ufffe");
  EXPECT_EQ(r.loop_block().process_comm(), "ok");
  // It serializes and parses again: proto3 refuses a string field that is not UTF-8.
  v1::Report again;
  EXPECT_TRUE(again.ParseFromString(r.SerializeAsString()));
}

TEST(SafeTextWriter, TheLogKeepsOneLinePerReportAndNoEscapeSequence) {
  FILE* f = tmpfile();
  auto writer = MakeSafeTextWriter(MakeLogWriter(f, false));
  writer->Write(Poisoned());
  std::string out = Captured(f);
  fclose(f);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_FALSE(HasRawControl(out, /*allow_newline=*/true)) << out;
  EXPECT_NE(out.find("svc\xef\xbf\xbd\\n2026-12-07T10:00:00.000Z fake"), std::string::npos) << out;
}

TEST(SafeTextWriter, TextAndJsonOutputsAreSafeAndTheJsonParses) {
  for (bool json : {false, true}) {
    FILE* f = tmpfile();
    auto writer = MakeSafeTextWriter(json ? MakeJsonWriter(f) : MakeTextWriter(f));
    writer->Write(Poisoned());
    std::string out = Captured(f);
    fclose(f);
    EXPECT_FALSE(HasRawControl(out, /*allow_newline=*/true)) << out;
    EXPECT_EQ(out.find("\xef\xbf\xbe"), std::string::npos);
    // JSON doubles the backslash of the visible escape.
    EXPECT_NE(out.find(json ? "\\\\x1b]0;owned\\\\x07" : "\\x1b]0;owned\\x07"), std::string::npos) << out;
    if (!json) continue;
    v1::Report parsed;
    std::string line = out.substr(0, out.find('\n'));
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
  }
}

}  // namespace
}  // namespace stallscope
