#include "python/code_cache.h"

#include <utility>

namespace stallscope {

std::shared_ptr<const CodeInfo> CodeCache::Find(uint64_t address, const CodeIdentity& identity) {
  auto it = entries_.find(address);
  if (it == entries_.end()) {
    ++misses_;
    return nullptr;
  }
  if (!(it->second.identity == identity)) {
    lru_.erase(it->second.lru_position);
    entries_.erase(it);
    ++misses_;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru_position);
  ++hits_;
  return it->second.info;
}

std::shared_ptr<const CodeInfo> CodeCache::Insert(uint64_t address, const CodeIdentity& identity,
                                                  CodeInfo info) {
  auto shared = std::make_shared<const CodeInfo>(std::move(info));
  if (auto it = entries_.find(address); it != entries_.end()) {
    it->second.identity = identity;
    it->second.info = shared;
    lru_.splice(lru_.begin(), lru_, it->second.lru_position);
    return shared;
  }
  while (entries_.size() >= capacity_ && !lru_.empty()) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(address);
  entries_.emplace(address,
                   Entry{.identity = identity, .info = shared, .lru_position = lru_.begin()});
  return shared;
}

}  // namespace stallscope
