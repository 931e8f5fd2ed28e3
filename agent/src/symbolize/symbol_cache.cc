#include "symbolize/symbol_cache.h"

#include <utility>

#include "target_files/counters.h"

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
  size_t bytes = table->memory_bytes();
  while (!lru_.empty() && (total_symbols_ + cost > max_symbols_ || total_bytes_ + bytes > max_bytes_)) {
    std::string victim = lru_.back();  // a copy: Erase frees the list's string
    Erase(victim);
    target_files::CountShed(target_files::Shed::kSymbolTablesEvicted);
  }
  lru_.push_front(key);
  entries_[key] = Entry{std::move(table), lru_.begin()};
  total_symbols_ += cost;
  total_bytes_ += bytes;
}

void SymbolTableCache::Erase(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  total_symbols_ -= Cost(*it->second.table);
  total_bytes_ -= it->second.table->memory_bytes();
  lru_.erase(it->second.lru_position);
  entries_.erase(it);
}

}  // namespace stallscope::symbolize
