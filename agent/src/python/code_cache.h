// What the stack reader decodes once per code object (names, file, line table), kept in a
// bounded LRU cache keyed by the code object's address.
//
// A code object can be freed and its address reused by another one, so an entry is only used
// while the object at that address still has the same identity: the addresses of its
// filename, name, qualname and line table objects, its first line and its length. These are
// read anyway with the code object's header (one read for all frames of a stack), so checking
// costs nothing extra. A new code object at the same address that matches all six would have
// to hold the very same string and line-table objects, i.e. describe the same function.
#ifndef STALLSCOPE_AGENT_PYTHON_CODE_CACHE_H_
#define STALLSCOPE_AGENT_PYTHON_CODE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace stallscope {

struct CodeIdentity {
  uint64_t filename = 0;
  uint64_t name = 0;
  uint64_t qualname = 0;
  uint64_t linetable = 0;
  int32_t first_line = 0;
  int64_t code_units = 0;

  bool operator==(const CodeIdentity&) const = default;
};

struct CodeInfo {
  std::string qualname;
  std::string filename;
  std::string module;
  int first_line = 0;
  int64_t code_units = 0;   // number of 2-byte code units
  std::string linetable;    // co_linetable bytes; empty when it was too large to copy
};

class CodeCache {
 public:
  explicit CodeCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // The entry for `address` if its identity still matches (marking it most recently used).
  // A stale entry (the address now holds another code object) is dropped.
  std::shared_ptr<const CodeInfo> Find(uint64_t address, const CodeIdentity& identity);

  // Caches `info`, evicting the least recently used entry when full.
  std::shared_ptr<const CodeInfo> Insert(uint64_t address, const CodeIdentity& identity,
                                         CodeInfo info);

  size_t size() const { return entries_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Entry {
    CodeIdentity identity;
    std::shared_ptr<const CodeInfo> info;
    std::list<uint64_t>::iterator lru_position;
  };

  size_t capacity_;
  std::list<uint64_t> lru_;  // most recently used first
  absl::flat_hash_map<uint64_t, Entry> entries_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_CODE_CACHE_H_
