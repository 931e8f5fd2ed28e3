// What an agent (any network peer) sends the collector: a stallscope.v1.AgentMessage, read as
// frames (each report parsed on its own, an unreadable one refused alone), validated and
// indexed as the stream handler does, and each stored report printed back as
// the query API prints it (proto3 JSON of the stored bytes).
#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include "batch_builder.h"
#include "flamegraph.h"
#include "json.h"
#include "report_index.h"
#include "stallscope/v1/collector.pb.h"

namespace {

void PrintJson(const std::string& report_bytes) {
  static google::protobuf::util::TypeResolver* resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "type.googleapis.com", google::protobuf::DescriptorPool::generated_pool());
  static const std::string type_url =
      "type.googleapis.com/" + stallscope::v1::Report::descriptor()->full_name();
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::BinaryToJsonString(resolver, type_url, report_bytes, &json, options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stallscope::v1::AgentMessageFrames message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  stallscope::collector::BatchBuilder builder;
  // Twice: the first message of a stream carries the identity, later ones must keep seq rising.
  for (int i = 0; i < 2; ++i) {
    auto batch = builder.Build(message, /*now_ns=*/1'700'000'000'000'000'000);
    if (!batch.ok()) {
      stallscope::collector::JsonString(batch.status().message());
      continue;
    }
    for (const auto& row : (*batch)->rows) {
      stallscope::collector::JsonString(row.index.site);
      stallscope::collector::JsonString(row.index.subject);
      PrintJson(row.body);
    }
  }
  stallscope::collector::FlameGraph flame;
  for (const auto& sequenced : message.reports()) {
    stallscope::v1::Report report;
    if (!report.ParseFromString(sequenced.report())) continue;
    stallscope::collector::IndexReport(report, 0);
    flame.Add(report.loop_block().stack(), report.loop_block().duration_ns());
  }
  flame.ToJson(0.0);
  return 0;
}
