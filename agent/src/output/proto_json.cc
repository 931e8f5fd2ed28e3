#include "output/proto_json.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace stallscope {
namespace {

using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 if the bytes there are not one.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t cp = len == 1 ? c : c & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 0x2) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;  // overlong, surrogate
  return len;
}

// JSON string escaping as protobuf's json_escaping.cc does it: the two-character forms for
// \b \t \n \f \r, \uXXXX for other control characters, and for '<', '>' (safe to embed in
// HTML) and U+2028/U+2029 (line separators to JavaScript); other UTF-8 passes through. Bytes
// that are not UTF-8 become U+FFFD, so the line stays valid JSON (protobuf cuts the string
// there instead).
void AppendQuoted(const std::string& s, std::string& out) {
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\t': out += "\\t"; continue;
      case '\n': out += "\\n"; continue;
      case '\f': out += "\\f"; continue;
      case '\r': out += "\\r"; continue;
      case '<': out += "\\u003c"; continue;
      case '>': out += "\\u003e"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (size_t len = Utf8SequenceLength(s, i); len == 0) {
      out += "\xef\xbf\xbd";
    } else if (len == 3 && c == 0xe2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) & 0xfe) == 0xa8) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out.append(s, i, len);
      i += len - 1;
    }
  }
  out.push_back('"');
}

// Shortest of %.15g / %.17g that reads back exactly (protobuf's SimpleDtoa), and its float twin.
std::string DoubleText(double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.*g", DBL_DIG, v);
  if (strtod(buf, nullptr) != v) snprintf(buf, sizeof(buf), "%.*g", DBL_DIG + 2, v);
  return buf;
}

std::string FloatText(float v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.*g", FLT_DIG, v);
  if (strtof(buf, nullptr) != v) snprintf(buf, sizeof(buf), "%.*g", FLT_DIG + 3, v);
  return buf;
}

template <typename T>
void AppendFloating(T v, std::string& out) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else if constexpr (sizeof(T) == sizeof(float)) {
    out += FloatText(v);
  } else {
    out += DoubleText(v);
  }
}

void AppendEnum(const FieldDescriptor* field, int number, std::string& out) {
  const EnumValueDescriptor* value = field->enum_type()->FindValueByNumber(number);
  if (value) {
    AppendQuoted(value->name(), out);
  } else {
    absl::StrAppend(&out, number);  // a value this build does not know: its number
  }
}

// One value of a field: index < 0 for a singular field, else the element of a repeated one.
void AppendValue(const Message& m, const Reflection* r, const FieldDescriptor* f, int index,
                 std::string& out) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:  // 64-bit integers are strings in proto3 JSON
      absl::StrAppend(&out, "\"", rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), "\"");
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(&out, "\"", rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), "\"");
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendFloating(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloating(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      AppendEnum(f, rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s =
          rep ? r->GetRepeatedStringReference(m, f, index, &scratch) : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        AppendQuoted(absl::Base64Escape(s), out);
      } else {
        AppendQuoted(s, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendProto3Json(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out);
      break;
  }
}

// Printed when set, and when unset if it is a primitive or repeated field outside a oneof
// (always_print_primitive_fields): zeros are answers too. Unset messages, oneof members and
// proto3 `optional` fields are left out, as protobuf does.
bool Printed(const Message& m, const Reflection* r, const FieldDescriptor* f) {
  if (f->is_repeated()) return true;
  if (r->HasField(m, f)) return true;
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return false;
  return f->containing_oneof() == nullptr;  // covers proto3 optional (a synthetic oneof)
}

// A message type's fields in field-number order: protobuf's printer walks the wire form, which
// is in that order. Computed once per type and thread.
const std::vector<const FieldDescriptor*>& FieldsByNumber(const google::protobuf::Descriptor* d) {
  thread_local absl::flat_hash_map<const google::protobuf::Descriptor*,
                                   std::vector<const FieldDescriptor*>> cache;
  auto [it, inserted] = cache.try_emplace(d);
  if (inserted) {
    for (int i = 0; i < d->field_count(); ++i) it->second.push_back(d->field(i));
    std::sort(it->second.begin(), it->second.end(),
              [](const FieldDescriptor* a, const FieldDescriptor* b) { return a->number() < b->number(); });
  }
  return it->second;
}

}  // namespace

void AppendProto3Json(const Message& message, std::string& out) {
  const Reflection* r = message.GetReflection();
  out.push_back('{');
  bool first = true;
  for (const FieldDescriptor* f : FieldsByNumber(message.GetDescriptor())) {
    if (!Printed(message, r, f)) continue;
    if (!first) out.push_back(',');
    first = false;
    AppendQuoted(f->json_name(), out);
    out.push_back(':');
    if (f->is_map()) {
      // No map fields in stallscope.v1; written as protobuf does should one appear.
      out.push_back('{');
      int n = r->FieldSize(message, f);
      for (int i = 0; i < n; ++i) {
        const Message& entry = r->GetRepeatedMessage(message, f, i);
        const Reflection* er = entry.GetReflection();
        const FieldDescriptor* key = entry.GetDescriptor()->map_key();
        const FieldDescriptor* value = entry.GetDescriptor()->map_value();
        if (i) out.push_back(',');
        std::string key_text;
        AppendValue(entry, er, key, -1, key_text);
        if (key_text.empty() || key_text[0] != '"') key_text = absl::StrCat("\"", key_text, "\"");
        out += key_text;
        out.push_back(':');
        AppendValue(entry, er, value, -1, out);
      }
      out.push_back('}');
    } else if (f->is_repeated()) {
      out.push_back('[');
      int n = r->FieldSize(message, f);
      for (int i = 0; i < n; ++i) {
        if (i) out.push_back(',');
        AppendValue(message, r, f, i, out);
      }
      out.push_back(']');
    } else {
      AppendValue(message, r, f, -1, out);
    }
  }
  out.push_back('}');
}

void AppendJsonString(const std::string& s, std::string& out) { AppendQuoted(s, out); }

}  // namespace stallscope
