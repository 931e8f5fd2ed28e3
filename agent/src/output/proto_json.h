// The proto3 JSON mapping of a message, written straight from its reflection: what protobuf's
// MessageToJsonString prints with always_print_primitive_fields and lowerCamelCase names, byte
// for byte (tests/unit/output/proto_json_test.cc checks that on random messages), at a small
// fraction of the cost: protobuf's converter serializes to binary and rebuilds the message
// through a type resolver and a tree of object writers, ~0.3 ms of CPU per report line, most of
// the agent's CPU at a high stall rate.
#ifndef STALLSCOPE_AGENT_OUTPUT_PROTO_JSON_H_
#define STALLSCOPE_AGENT_OUTPUT_PROTO_JSON_H_

#include <google/protobuf/message.h>

#include <string>

namespace stallscope {

// Appends the message as one JSON object without whitespace.
void AppendProto3Json(const google::protobuf::Message& message, std::string& out);

// Appends s as a JSON string (quoted, escaped as protobuf does; invalid UTF-8 -> U+FFFD).
void AppendJsonString(const std::string& s, std::string& out);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_PROTO_JSON_H_
