#include "report_index.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include "absl/strings/str_cat.h"
#include "safe_text.h"
#include "stack_site.h"

namespace stallscope::collector {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

const google::protobuf::OneofDescriptor* KindOneof() {
  static const auto* oneof = v1::Report::descriptor()->FindOneofByName("kind");
  return oneof;
}

bool BoolField(const Message& message, absl::string_view name) {
  const FieldDescriptor* f = message.GetDescriptor()->FindFieldByName(std::string(name));
  if (f == nullptr || f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_BOOL) return false;
  return message.GetReflection()->GetBool(message, f);
}

std::string StringField(const Message& message, absl::string_view name) {
  const FieldDescriptor* f = message.GetDescriptor()->FindFieldByName(std::string(name));
  if (f == nullptr || f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) return "";
  return message.GetReflection()->GetString(message, f);
}

}  // namespace

uint64_t UintField(const Message& message, absl::string_view name, uint64_t fallback) {
  const FieldDescriptor* f = message.GetDescriptor()->FindFieldByName(std::string(name));
  if (f == nullptr || f->is_repeated()) return fallback;
  const Reflection* r = message.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_UINT32: return r->GetUInt32(message, f);
    case FieldDescriptor::CPPTYPE_UINT64: return r->GetUInt64(message, f);
    case FieldDescriptor::CPPTYPE_INT32: return static_cast<uint64_t>(std::max(0, r->GetInt32(message, f)));
    case FieldDescriptor::CPPTYPE_INT64:
      return static_cast<uint64_t>(std::max<int64_t>(0, r->GetInt64(message, f)));
    default: return fallback;
  }
}

const std::vector<std::string>& ReportKinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> names;
    for (int i = 0; i < KindOneof()->field_count(); ++i) names.push_back(KindOneof()->field(i)->name());
    return names;
  }();
  return kinds;
}

bool IsReportKind(absl::string_view kind) {
  for (const std::string& k : ReportKinds())
    if (k == kind) return true;
  return false;
}

const Message* KindMessage(const v1::Report& report) {
  const FieldDescriptor* f = report.GetReflection()->GetOneofFieldDescriptor(report, KindOneof());
  if (f == nullptr || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return nullptr;
  return &report.GetReflection()->GetMessage(report, f);
}

std::string FrameLabel(const v1::Frame& frame) {
  std::string label;
  if (frame.kind() == v1::Frame::PYTHON || !frame.file().empty()) {
    std::string fn = frame.function().empty() ? "?" : frame.function();
    label = frame.file().empty() ? fn : absl::StrCat(fn, " (", frame.file(), ":", frame.line(), ")");
  } else {
    std::string fn = frame.function().empty() ? absl::StrCat("0x", absl::Hex(frame.address())) : frame.function();
    label = frame.module().empty() ? fn : absl::StrCat(fn, " (", frame.module(), ")");
  }
  // Names a target chose, from any agent (an old one may send them raw): safe text before a
  // summary, the flame graph or a terminal shows them (docs/security.md, "Target strings").
  return SafeText(label, 8192);
}

ReportIndex IndexReport(const v1::Report& report, uint64_t received_ns) {
  ReportIndex index;
  index.time_ns = received_ns;
  index.service = report.process().service();
  index.pod_namespace = report.process().pod_namespace();
  index.workload = report.process().workload();
  index.container = report.process().container();
  const Message* m = KindMessage(report);
  if (m == nullptr) {
    // A kind this build does not know arrives as unknown fields: keep it, don't interpret it.
    if (!report.GetReflection()->GetUnknownFields(report).empty()) index.kind = std::string(kUnknownKind);
    return index;
  }
  index.kind = report.GetReflection()->GetOneofFieldDescriptor(report, KindOneof())->name();
  if (report.has_loop_block()) {
    // The hot path at ingest: typed access, same result as the reflection below.
    const v1::LoopBlock& b = report.loop_block();
    index.pid = b.pid();
    if (b.start_time_unix_nano() != 0) index.time_ns = b.start_time_unix_nano();
    index.duration_ns = b.duration_ns();
    index.final = !b.in_progress();
    index.site = StackSite(b.stack());
    return index;
  }
  index.pid = static_cast<uint32_t>(UintField(*m, "pid"));
  uint64_t t = UintField(*m, "start_time_unix_nano");
  if (t == 0) t = UintField(*m, "time_unix_nano");
  if (t != 0) index.time_ns = t;
  index.duration_ns = UintField(*m, "duration_ns");
  index.final = !BoolField(*m, "in_progress");
  const FieldDescriptor* stack = m->GetDescriptor()->FindFieldByName("stack");
  if (stack != nullptr && stack->is_repeated() && stack->message_type() == v1::Frame::descriptor()) {
    google::protobuf::RepeatedPtrField<v1::Frame> frames;
    for (const v1::Frame& f : m->GetReflection()->GetRepeatedFieldRef<v1::Frame>(*m, stack)) *frames.Add() = f;
    index.site = StackSite(frames);
  }
  for (absl::string_view name :
       {"pool", "pool_name", "name", "listen_address", "local_address", "address", "target"}) {
    index.subject = StringField(*m, name);
    if (!index.subject.empty()) break;
  }
  return index;
}

}  // namespace stallscope::collector
