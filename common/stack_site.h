// A stall's site: the one frame of its stack that names where it happened, and how that frame
// is written. The agent's terminal and log lines, its summary, and the collector's index (and so
// the dashboard and its queries) all pick the site here, so one stall is blamed on one line
// everywhere.
#ifndef STALLSCOPE_COMMON_STACK_SITE_H_
#define STALLSCOPE_COMMON_STACK_SITE_H_

#include <string>
#include "absl/strings/string_view.h"

#include "google/protobuf/repeated_ptr_field.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

// Whether a Python source file is the application's own rather than the interpreter's standard
// library or an installed package (site-packages, dist-packages: frameworks).
bool IsApplicationFile(absl::string_view file);

// The frame that names the site of a stack (innermost first): the innermost Python frame of the
// application's own code, else the innermost Python frame, else the innermost named native
// frame, else the innermost frame; nullptr for an empty stack.
const v1::Frame* SiteFrame(const google::protobuf::RepeatedPtrField<v1::Frame>& stack);

// The site in words: "app/views.py:88 fetch_orders", or "recv (libc.so.6)" for a native frame
// ("0x7f12... (libc.so.6)" when unnamed).
std::string SiteLabel(const v1::Frame& frame);

// SiteLabel(*SiteFrame(stack)), "" for an empty stack.
std::string StackSite(const google::protobuf::RepeatedPtrField<v1::Frame>& stack);

}  // namespace stallscope

#endif  // STALLSCOPE_COMMON_STACK_SITE_H_
