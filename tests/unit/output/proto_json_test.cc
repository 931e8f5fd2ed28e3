// The direct proto3 JSON writer must print exactly what protobuf's MessageToJsonString prints
// (always_print_primitive_fields, lowerCamelCase): checked byte for byte on random Reports and
// collector messages with every field kind, odd strings and extreme numbers.
#include "output/proto_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "stallscope/v1/collector.pb.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

class RandomFiller {
 public:
  explicit RandomFiller(uint32_t seed) : rng_(seed) {}

  void Fill(Message& m, int depth) {
    const google::protobuf::Descriptor* d = m.GetDescriptor();
    const google::protobuf::Reflection* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (Chance(3)) continue;  // leave some unset: defaults and unset messages
      if (f->containing_oneof() && r->HasOneof(m, f->containing_oneof())) continue;
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth > 3) continue;
      if (f->is_repeated()) {
        int n = static_cast<int>(rng_() % 4);
        for (int k = 0; k < n; ++k) Add(m, r, f, depth);
      } else {
        Set(m, r, f, depth);
      }
    }
  }

 private:
  bool Chance(int one_in) { return rng_() % one_in == 0; }

  int64_t Int() {
    switch (rng_() % 5) {
      case 0: return 0;
      case 1: return std::numeric_limits<int64_t>::max();
      case 2: return std::numeric_limits<int64_t>::min();
      case 3: return -static_cast<int64_t>(rng_() % 1000);
      default: return static_cast<int64_t>(rng_()) * 7919;
    }
  }

  double Double() {
    switch (rng_() % 8) {
      case 0: return 0.0;
      case 1: return std::nan("");
      case 2: return std::numeric_limits<double>::infinity();
      case 3: return -std::numeric_limits<double>::infinity();
      case 4: return 1e300;
      case 5: return 0.1;
      case 6: return std::numeric_limits<double>::denorm_min();
      default: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    }
  }

  std::string String() {
    static const char* kPieces[] = {"abc", "<script>", "a\"b", "back\\slash", "\n\t\r\b\f",
                                    "\x01\x1f\x7f", "é ü 日本",
                                    "\xe2\x80\xa8|\xe2\x80\xa9", "tcp 127.0.0.1:80 -> 10.0.0.1:5432",
                                    "", "/tmp/x.py", "{}[]:,"};
    std::string s;
    int n = static_cast<int>(rng_() % 4);
    for (int i = 0; i < n; ++i) s += kPieces[rng_() % (sizeof(kPieces) / sizeof(kPieces[0]))];
    return s;
  }

  int EnumValue(const FieldDescriptor* f) {
    const google::protobuf::EnumDescriptor* e = f->enum_type();
    return e->value(static_cast<int>(rng_() % e->value_count()))->number();
  }

  void Set(Message& m, const google::protobuf::Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: r->SetInt32(&m, f, static_cast<int32_t>(Int())); break;
      case FieldDescriptor::CPPTYPE_UINT32: r->SetUInt32(&m, f, static_cast<uint32_t>(Int())); break;
      case FieldDescriptor::CPPTYPE_INT64: r->SetInt64(&m, f, Int()); break;
      case FieldDescriptor::CPPTYPE_UINT64: r->SetUInt64(&m, f, static_cast<uint64_t>(Int())); break;
      case FieldDescriptor::CPPTYPE_DOUBLE: r->SetDouble(&m, f, Double()); break;
      case FieldDescriptor::CPPTYPE_FLOAT: r->SetFloat(&m, f, static_cast<float>(Double())); break;
      case FieldDescriptor::CPPTYPE_BOOL: r->SetBool(&m, f, Chance(2)); break;
      case FieldDescriptor::CPPTYPE_ENUM: r->SetEnumValue(&m, f, EnumValue(f)); break;
      case FieldDescriptor::CPPTYPE_STRING: r->SetString(&m, f, String()); break;
      case FieldDescriptor::CPPTYPE_MESSAGE: Fill(*r->MutableMessage(&m, f), depth + 1); break;
    }
  }

  void Add(Message& m, const google::protobuf::Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: r->AddInt32(&m, f, static_cast<int32_t>(Int())); break;
      case FieldDescriptor::CPPTYPE_UINT32: r->AddUInt32(&m, f, static_cast<uint32_t>(Int())); break;
      case FieldDescriptor::CPPTYPE_INT64: r->AddInt64(&m, f, Int()); break;
      case FieldDescriptor::CPPTYPE_UINT64: r->AddUInt64(&m, f, static_cast<uint64_t>(Int())); break;
      case FieldDescriptor::CPPTYPE_DOUBLE: r->AddDouble(&m, f, Double()); break;
      case FieldDescriptor::CPPTYPE_FLOAT: r->AddFloat(&m, f, static_cast<float>(Double())); break;
      case FieldDescriptor::CPPTYPE_BOOL: r->AddBool(&m, f, Chance(2)); break;
      case FieldDescriptor::CPPTYPE_ENUM: r->AddEnumValue(&m, f, EnumValue(f)); break;
      case FieldDescriptor::CPPTYPE_STRING: r->AddString(&m, f, String()); break;
      case FieldDescriptor::CPPTYPE_MESSAGE: Fill(*r->AddMessage(&m, f), depth + 1); break;
    }
  }

  std::mt19937 rng_;
};

std::string Reference(const Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out, options).ok());
  return out;
}

std::string Ours(const Message& m) {
  std::string out;
  AppendProto3Json(m, out);
  return out;
}

template <typename T>
void CheckRandom(int rounds) {
  for (int seed = 1; seed <= rounds; ++seed) {
    T message;
    RandomFiller(static_cast<uint32_t>(seed)).Fill(message, 0);
    ASSERT_EQ(Ours(message), Reference(message)) << "seed " << seed << "\n" << message.DebugString();
  }
}

TEST(ProtoJson, EmptyReportPrintsWhatProtobufPrints) {
  v1::Report empty;
  EXPECT_EQ(Ours(empty), Reference(empty));
}

TEST(ProtoJson, RandomReportsMatchProtobufByteForByte) { CheckRandom<v1::Report>(400); }

TEST(ProtoJson, RandomCollectorMessagesMatchProtobuf) {
  const google::protobuf::FileDescriptor* file = v1::Report::descriptor()->file();
  ASSERT_NE(file, nullptr);
  // Every message type of both schema files, filled at random.
  for (const google::protobuf::FileDescriptor* f :
       {file, google::protobuf::DescriptorPool::generated_pool()->FindFileByName(
                  "stallscope/v1/collector.proto")}) {
    ASSERT_NE(f, nullptr);
    for (int i = 0; i < f->message_type_count(); ++i) {
      const Message* prototype =
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(f->message_type(i));
      for (uint32_t seed = 1; seed <= 50; ++seed) {
        std::unique_ptr<Message> m(prototype->New());
        RandomFiller(seed * 31 + i).Fill(*m, 0);
        ASSERT_EQ(Ours(*m), Reference(*m)) << f->message_type(i)->full_name() << " seed " << seed;
      }
    }
  }
}

TEST(ProtoJson, InvalidUtf8BecomesReplacementCharacters) {
  // A process can name itself anything; the line must stay valid UTF-8 JSON. (protobuf's own
  // printer cuts the string at the first bad byte instead.)
  v1::Frame frame;
  frame.set_function(std::string("ok\xff\xc3(end", 8));
  std::string out = Ours(frame);
  EXPECT_NE(out.find("\"function\":\"ok\xef\xbf\xbd\xef\xbf\xbd(end\""), std::string::npos) << out;
}

}  // namespace
}  // namespace stallscope
