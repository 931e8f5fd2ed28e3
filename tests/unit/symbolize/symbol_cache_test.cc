#include "symbolize/symbol_cache.h"

#include <gtest/gtest.h>

namespace stallscope::symbolize {
namespace {

std::shared_ptr<const SymbolTable> TableOf(size_t count) {
  std::vector<SymbolTable::RawSymbol> raw;
  for (size_t i = 0; i < count; ++i) {
    raw.push_back({.address = 0x1000 + i * 16, .size = 16, .binding = 1, .name = "f"});
  }
  return std::make_shared<const SymbolTable>(std::move(raw));
}

TEST(SymbolizerCache, EvictsLeastRecentlyUsedToStayUnderTheBound) {
  SymbolTableCache cache(10);
  cache.Put("a", TableOf(4));
  cache.Put("b", TableOf(4));
  EXPECT_EQ(cache.total_symbols(), 8u);
  ASSERT_NE(cache.Get("a"), nullptr);  // a is now more recent than b
  cache.Put("c", TableOf(4));
  EXPECT_EQ(cache.Get("b"), nullptr);
  EXPECT_NE(cache.Get("a"), nullptr);
  EXPECT_NE(cache.Get("c"), nullptr);
  EXPECT_EQ(cache.total_symbols(), 8u);
  EXPECT_EQ(cache.object_count(), 2u);
}

TEST(SymbolizerCache, OversizedTableIsKeptAloneAndEmptyTablesCount) {
  SymbolTableCache cache(3);
  cache.Put("small", TableOf(2));
  cache.Put("huge", TableOf(50));
  EXPECT_EQ(cache.object_count(), 1u);
  EXPECT_NE(cache.Get("huge"), nullptr);
  cache.Put("e1", TableOf(0));
  cache.Put("e2", TableOf(0));
  cache.Put("e3", TableOf(0));
  cache.Put("e4", TableOf(0));
  EXPECT_EQ(cache.object_count(), 3u);
  EXPECT_EQ(cache.total_symbols(), 3u);
}

TEST(SymbolizerCache, ReplacingAKeyKeepsTheCountRight) {
  SymbolTableCache cache(100);
  cache.Put("a", TableOf(5));
  cache.Put("a", TableOf(7));
  EXPECT_EQ(cache.total_symbols(), 7u);
  EXPECT_EQ(cache.object_count(), 1u);
  EXPECT_EQ(cache.Get("a")->size(), 7u);
  EXPECT_EQ(cache.Get("missing"), nullptr);
}

}  // namespace
}  // namespace stallscope::symbolize
