#include "bpf/uprobe_multi.h"

#include <bpf/btf.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stallscope {
namespace {

// union bpf_attr's link_create as Linux 6.6+ lays it out for uprobe_multi; Debian 12's
// <linux/bpf.h> (6.1) does not have these fields yet.
struct LinkCreateUprobeMulti {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t cnt;
  uint32_t multi_flags;  // BPF_F_UPROBE_MULTI_RETURN for return probes; 0 = entry
  uint32_t pid;
};
static_assert(sizeof(LinkCreateUprobeMulti) <= sizeof(union bpf_attr));

}  // namespace

std::optional<uint32_t> UprobeMultiAttachType() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return std::nullopt;
  std::optional<uint32_t> value;
  int id = btf__find_by_name_kind(vmlinux, "bpf_attach_type", BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* type = btf__type_by_id(vmlinux, id);
    const struct btf_enum* values = btf_enum(type);
    for (int i = 0; i < btf_vlen(type); ++i) {
      const char* name = btf__name_by_offset(vmlinux, values[i].name_off);
      if (name && std::string_view(name) == "BPF_TRACE_UPROBE_MULTI") {
        value = static_cast<uint32_t>(values[i].val);
        break;
      }
    }
  }
  btf__free(vmlinux);
  return value;
}

absl::StatusOr<int> AttachUprobeMulti(int prog_fd, uint32_t attach_type, const std::string& path,
                                      uint64_t offset, pid_t pid) {
  LinkCreateUprobeMulti create{};
  create.prog_fd = static_cast<uint32_t>(prog_fd);
  create.attach_type = attach_type;
  create.path = reinterpret_cast<uint64_t>(path.c_str());
  create.offsets = reinterpret_cast<uint64_t>(&offset);
  create.cnt = 1;
  create.pid = static_cast<uint32_t>(pid);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));  // the kernel refuses non-zero bytes past the fields it knows
  memcpy(&attr, &create, sizeof(create));
  long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
  if (fd < 0)
    return absl::FailedPreconditionError(
        absl::StrCat("attaching a uprobe to pid ", pid, ": ", strerror(errno)));
  return static_cast<int>(fd);
}

}  // namespace stallscope
