#include "symbolize/symbol_cache.h"

#include <utility>

namespace stallscope::symbolize {

std::shared_ptr<const SymbolTable> SymbolTableCache::Get(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru_position);
  return it->second.table;
}

void SymbolTableCache::Put(const std::string& key, std::shared_ptr<const SymbolTable> table) {
  if (table == nullptr) return;
  Erase(key);
  size_t cost = Cost(*table);
  while (!lru_.empty() && total_symbols_ + cost > max_symbols_) {
    std::string victim = lru_.back();  // a copy: Erase frees the list's string
    Erase(victim);
  }
  lru_.push_front(key);
  entries_[key] = Entry{std::move(table), lru_.begin()};
  total_symbols_ += cost;
}

void SymbolTableCache::Erase(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  total_symbols_ -= Cost(*it->second.table);
  lru_.erase(it->second.lru_position);
  entries_.erase(it);
}

}  // namespace stallscope::symbolize
