#include "python/code_cache.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

CodeInfo Info(const std::string& name) {
  CodeInfo info;
  info.qualname = name;
  return info;
}

CodeIdentity Identity(uint64_t name, int first_line = 1) {
  return {.filename = 0x100,
          .name = name,
          .qualname = name + 8,
          .linetable = 0x200,
          .first_line = first_line,
          .code_units = 10};
}

TEST(PythonCodeCache, HitsWhileTheIdentityMatches) {
  CodeCache cache(4);
  EXPECT_EQ(cache.Find(0x1000, Identity(0x10)), nullptr);
  cache.Insert(0x1000, Identity(0x10), Info("f"));
  auto hit = cache.Find(0x1000, Identity(0x10));
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->qualname, "f");
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(PythonCodeCache, ReusedAddressIsAMissAndDropsTheStaleEntry) {
  CodeCache cache(4);
  cache.Insert(0x1000, Identity(0x10), Info("f"));
  EXPECT_EQ(cache.Find(0x1000, Identity(0x20)), nullptr);  // another name object
  EXPECT_EQ(cache.size(), 0u);
  cache.Insert(0x1000, Identity(0x10), Info("f"));
  EXPECT_EQ(cache.Find(0x1000, Identity(0x10, 7)), nullptr);  // another first line
  cache.Insert(0x1000, Identity(0x20), Info("g"));
  ASSERT_NE(cache.Find(0x1000, Identity(0x20)), nullptr);
  EXPECT_EQ(cache.Find(0x1000, Identity(0x20))->qualname, "g");
}

TEST(PythonCodeCache, EvictsTheLeastRecentlyUsed) {
  CodeCache cache(2);
  cache.Insert(0x1000, Identity(0x10), Info("a"));
  cache.Insert(0x2000, Identity(0x10), Info("b"));
  ASSERT_NE(cache.Find(0x1000, Identity(0x10)), nullptr);  // a is now the most recent
  auto kept = cache.Find(0x2000, Identity(0x10));          // ...and now b
  cache.Find(0x1000, Identity(0x10));                      // a again
  cache.Insert(0x3000, Identity(0x10), Info("c"));         // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find(0x2000, Identity(0x10)), nullptr);
  EXPECT_NE(cache.Find(0x1000, Identity(0x10)), nullptr);
  EXPECT_NE(cache.Find(0x3000, Identity(0x10)), nullptr);
  ASSERT_NE(kept, nullptr);  // handed-out entries outlive eviction
  EXPECT_EQ(kept->qualname, "b");
}

}  // namespace
}  // namespace stallscope
