#include "output/safe_text_writer.h"

#include <vector>

#include "target_files/target_strings.h"

namespace stallscope {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsText(const FieldDescriptor* f) { return f->type() == FieldDescriptor::TYPE_STRING; }
bool IsMessage(const FieldDescriptor* f) { return f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE; }

class SafeTextWriter : public ReportWriter {
 public:
  explicit SafeTextWriter(std::unique_ptr<ReportWriter> inner) : inner_(std::move(inner)) {}

  void Write(const v1::Report& report) override {
    if (HasOnlySafeStrings(report)) return inner_->Write(report);
    v1::Report copy = report;
    MakeStringsSafe(&copy);
    inner_->Write(copy);
  }
  void Observe(const v1::Report& report) override {
    if (HasOnlySafeStrings(report)) return inner_->Observe(report);
    v1::Report copy = report;
    MakeStringsSafe(&copy);
    inner_->Observe(copy);
  }
  void Finish(const StallSummary& summary, const v1::AgentStats& stats) override { inner_->Finish(summary, stats); }
  bool ok() const override { return inner_->ok(); }

 private:
  std::unique_ptr<ReportWriter> inner_;
};

}  // namespace

bool HasOnlySafeStrings(const Message& message) {
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* f : fields) {
    if (IsText(f)) {
      if (!f->is_repeated()) {
        if (!IsSafeText(r->GetStringReference(message, f, nullptr), kMaxTargetStringBytes)) return false;
        continue;
      }
      for (int i = 0; i < r->FieldSize(message, f); ++i) {
        std::string scratch;
        if (!IsSafeText(r->GetRepeatedStringReference(message, f, i, &scratch), kMaxTargetStringBytes)) return false;
      }
    } else if (IsMessage(f)) {
      if (!f->is_repeated()) {
        if (!HasOnlySafeStrings(r->GetMessage(message, f))) return false;
        continue;
      }
      for (int i = 0; i < r->FieldSize(message, f); ++i)
        if (!HasOnlySafeStrings(r->GetRepeatedMessage(message, f, i))) return false;
    }
  }
  return true;
}

int MakeStringsSafe(Message* message) {
  const Reflection* r = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*message, &fields);
  int changed = 0;
  for (const FieldDescriptor* f : fields) {
    if (IsText(f)) {
      int n = f->is_repeated() ? r->FieldSize(*message, f) : 1;
      for (int i = 0; i < n; ++i) {
        std::string text = f->is_repeated() ? r->GetRepeatedString(*message, f, i) : r->GetString(*message, f);
        if (!SanitizeTargetStringInPlace(&text)) continue;
        ++changed;
        if (f->is_repeated()) r->SetRepeatedString(message, f, i, std::move(text));
        else r->SetString(message, f, std::move(text));
      }
    } else if (IsMessage(f)) {
      if (!f->is_repeated()) {
        changed += MakeStringsSafe(r->MutableMessage(message, f));
        continue;
      }
      for (int i = 0; i < r->FieldSize(*message, f); ++i) changed += MakeStringsSafe(r->MutableRepeatedMessage(message, f, i));
    }
  }
  return changed;
}

std::unique_ptr<ReportWriter> MakeSafeTextWriter(std::unique_ptr<ReportWriter> inner) {
  return std::make_unique<SafeTextWriter>(std::move(inner));
}

}  // namespace stallscope
