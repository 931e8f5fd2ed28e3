// The last guard before any output: every string field of every report is safe text
// (common/safe_text.h) before the text, log, JSON and collector writers see it. Target strings
// are made safe where they enter the agent (target_files/target_strings.h); a field that a
// future entry point forgets is caught here (and counted like the others), instead of sending
// an ESC to a terminal, forging a log line or sinking a collector batch with invalid UTF-8.
#ifndef STALLSCOPE_AGENT_OUTPUT_SAFE_TEXT_WRITER_H_
#define STALLSCOPE_AGENT_OUTPUT_SAFE_TEXT_WRITER_H_

#include <memory>

#include "google/protobuf/message.h"
#include "output/report_writer.h"

namespace stallscope {

// True when every string field (nested and repeated ones too) is already safe text.
bool HasOnlySafeStrings(const google::protobuf::Message& message);
// Makes every string field safe text; returns how many changed.
int MakeStringsSafe(google::protobuf::Message* message);

// Passes reports to `inner`, copying and fixing only those with an unsafe string.
std::unique_ptr<ReportWriter> MakeSafeTextWriter(std::unique_ptr<ReportWriter> inner);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_SAFE_TEXT_WRITER_H_
