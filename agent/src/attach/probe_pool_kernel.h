// PoolTracker's view of the kernel tables, backed by the loaded probes.
#ifndef STALLSCOPE_AGENT_ATTACH_PROBE_POOL_KERNEL_H_
#define STALLSCOPE_AGENT_ATTACH_PROBE_POOL_KERNEL_H_

#include "bpf/probe_session.h"
#include "pools/pool_tracker.h"

namespace stallscope {

class ProbePoolKernel : public PoolKernel {
 public:
  explicit ProbePoolKernel(ProbeSession* probes) : probes_(probes) {}

  ss_pool ReadPool(uint32_t id) const override {
    ss_pool copy{};
    if (volatile ss_pool* p = probes_->Pool(id)) {
      // Field by field from shared memory the kernel updates concurrently: each field is
      // current; a saturation that starts or ends meanwhile is seen at the next scan.
      copy.size = p->size;
      copy.busy = p->busy;
      copy.peak_busy = p->peak_busy;
      copy.listen_port = p->listen_port;
      copy.sat_start_ns = p->sat_start_ns;
      copy.sat_seq = p->sat_seq;
      copy.sat_max_queued = p->sat_max_queued;
      copy.sat_accepts = p->sat_accepts;
      copy.sat_accept_wait_sum_ns = p->sat_accept_wait_sum_ns;
      copy.sat_accept_wait_max_ns = p->sat_accept_wait_max_ns;
      copy.sat_gap_ns = p->sat_gap_ns;
      copy.sat_on_cpu_ns = p->sat_on_cpu_ns;
    }
    return copy;
  }
  void ConfigurePool(uint32_t id, uint32_t size, uint32_t listen_port) override {
    if (volatile ss_pool* p = probes_->Pool(id)) {
      p->listen_port = listen_port;
      p->size = size;
    }
  }
  void ResetPoolPeak(uint32_t id) override {
    if (volatile ss_pool* p = probes_->Pool(id)) p->peak_busy = p->busy;
  }
  void AdjustBusy(uint32_t id, int delta) override {
    // The kernel changes busy with atomic adds on the same word.
    if (volatile ss_pool* p = probes_->Pool(id))
      __atomic_fetch_add(const_cast<uint32_t*>(&p->busy), static_cast<uint32_t>(delta), __ATOMIC_SEQ_CST);
  }
  void StartSaturationIfFull(uint32_t id, uint64_t now_ns) override {
    // As the kernel's start_saturation (bpf/pools.bpf.h); a start the kernel makes at the same
    // moment only costs a sequence number.
    volatile ss_pool* p = probes_->Pool(id);
    if (!p || !p->size || p->busy < p->size || p->sat_start_ns) return;
    p->sat_seq = p->sat_seq + 1;
    p->sat_max_queued = 0;
    p->sat_accepts = 0;
    p->sat_accept_wait_sum_ns = 0;
    p->sat_accept_wait_max_ns = 0;
    p->sat_gap_ns = 0;
    p->sat_on_cpu_ns = 0;
    p->sat_start_ns = now_ns;
  }
  absl::Status AddMember(pid_t tid, const ss_pool_member& member) override {
    return probes_->AddPoolMember(tid, member);
  }
  std::optional<ss_pool_member> ReadMember(pid_t tid) const override { return probes_->ReadPoolMember(tid); }
  void RemoveMember(pid_t tid) override { probes_->RemovePoolMember(tid); }
  absl::Status SetListener(uint16_t port, uint32_t slot, uint32_t pool_id_plus1) override {
    return probes_->SetListener(port, slot, pool_id_plus1);
  }
  ss_listener ReadListener(uint32_t slot) const override {
    ss_listener copy{};
    if (volatile ss_listener* l = probes_->Listener(slot)) {
      copy.pool_id_plus1 = l->pool_id_plus1;
      copy.queued = l->queued;
      copy.peak_queued = l->peak_queued;
      copy.max_backlog = l->max_backlog;
      copy.accepts = l->accepts;
      copy.synack_retransmits = l->synack_retransmits;
      copy.established = l->established;
    }
    return copy;
  }
  void ResetListenerPeak(uint32_t slot) override {
    if (volatile ss_listener* l = probes_->Listener(slot)) l->peak_queued = l->queued;
  }

 private:
  ProbeSession* probes_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_ATTACH_PROBE_POOL_KERNEL_H_
