// Reports and batches for collector tests.
#ifndef STALLSCOPE_TESTS_UNIT_COLLECTOR_TEST_REPORTS_H_
#define STALLSCOPE_TESTS_UNIT_COLLECTOR_TEST_REPORTS_H_

#include <string>

#include "report_index.h"
#include "store.h"

namespace stallscope::collector {

inline v1::Report Stall(uint32_t pid, uint64_t start_ns, uint64_t duration_ns, const std::string& py_function,
                        bool in_progress = false) {
  v1::Report r;
  v1::LoopBlock* b = r.mutable_loop_block();
  b->set_pid(pid);
  b->set_tid(pid);
  b->set_start_time_unix_nano(start_ns);
  b->set_duration_ns(duration_ns);
  b->set_in_progress(in_progress);
  v1::Frame* native = b->add_stack();
  native->set_kind(v1::Frame::NATIVE);
  native->set_function("recv");
  native->set_module("libc.so.6");
  if (!py_function.empty()) {
    v1::Frame* py = b->add_stack();
    py->set_kind(v1::Frame::PYTHON);
    py->set_function(py_function);
    py->set_file("app.py");
    py->set_line(42);
    v1::Frame* outer = b->add_stack();
    outer->set_kind(v1::Frame::PYTHON);
    outer->set_function("main");
    outer->set_file("app.py");
    outer->set_line(7);
  }
  return r;
}

inline v1::AgentIdentity Agent(const std::string& id, const std::string& host, const std::string& service) {
  v1::AgentIdentity a;
  a.set_agent_id(id);
  a.set_host(host);
  a.set_service(service);
  return a;
}

inline IngestBatch Batch(const v1::AgentIdentity& agent, uint64_t first_seq, const std::vector<v1::Report>& reports,
                         uint64_t received_ns = 1'700'000'000'000'000'000) {
  IngestBatch b;
  b.identity = agent;
  agent.SerializeToString(&b.identity_bytes);
  b.received_ns = received_ns;
  uint64_t seq = first_seq;
  for (const v1::Report& r : reports) {
    IngestRow row;
    row.seq = seq++;
    row.index = IndexReport(r, received_ns);
    r.SerializeToString(&row.body);
    b.rows.push_back(std::move(row));
  }
  return b;
}

}  // namespace stallscope::collector

#endif  // STALLSCOPE_TESTS_UNIT_COLLECTOR_TEST_REPORTS_H_
