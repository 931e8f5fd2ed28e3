// Symbol tables of ELF objects, shared by all processes mapping the same object, evicting the
// least recently used objects to keep the total number of symbols and their bytes under bounds
// (evictions are counted as symbol_tables_evicted sheds).
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_SYMBOL_CACHE_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_SYMBOL_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "symbolize/elf_symbols.h"

namespace stallscope::symbolize {

class SymbolTableCache {
 public:
  explicit SymbolTableCache(size_t max_symbols, size_t max_bytes = SIZE_MAX)
      : max_symbols_(max_symbols), max_bytes_(max_bytes) {}

  // The table cached under `key` (marking it most recently used), or null.
  std::shared_ptr<const SymbolTable> Get(const std::string& key);

  // Caches `table`, first evicting least recently used tables until it fits. A table larger
  // than the whole bound is still cached (alone), so it is not re-read on every lookup.
  void Put(const std::string& key, std::shared_ptr<const SymbolTable> table);

  size_t total_symbols() const { return total_symbols_; }
  size_t total_bytes() const { return total_bytes_; }
  size_t object_count() const { return entries_.size(); }

 private:
  struct Entry {
    std::shared_ptr<const SymbolTable> table;
    std::list<std::string>::iterator lru_position;
  };

  // An empty table still costs something, so tables of stripped objects are bounded too.
  static size_t Cost(const SymbolTable& table) { return table.size() > 0 ? table.size() : 1; }
  void Erase(const std::string& key);

  size_t max_symbols_;
  size_t max_bytes_;
  size_t total_symbols_ = 0;
  size_t total_bytes_ = 0;
  std::list<std::string> lru_;  // most recently used first
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace stallscope::symbolize

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_SYMBOL_CACHE_H_
