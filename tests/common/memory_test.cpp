// Checked sizes and the memory bound: overflow is an error naming what was
// being sized, and a request past the machine's memory is refused with the bytes.
#include <gtest/gtest.h>

#include "error_of.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "stride/common/error.h"
#include "stride/common/memory.h"

namespace stride {
namespace {

std::string error_of(const std::function<void()>& body) { return ::stride::testing::error_of<ConfigError>(body); }

TEST(Memory, CheckedArithmeticFailsInsteadOfWrapping) {
  EXPECT_EQ(checked_mul(1 << 20, 1 << 20, "x"), int64_t{1} << 40);
  EXPECT_EQ(checked_product({100000, 100000, 3}, "x"), 30000000000);
  const std::string e =
      error_of([] { checked_mul(int64_t{1} << 32, int64_t{1} << 32, "--size 4294967296x4294967296"); });
  EXPECT_NE(e.find("--size 4294967296x4294967296: 4294967296 x 4294967296 overflows 64-bit arithmetic"),
            std::string::npos)
      << e;
  EXPECT_NE(error_of([] { checked_add(std::numeric_limits<int64_t>::max(), 1, "sum"); }).find("sum:"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked_mul(-1, 4, "negative"); }), "");
}

TEST(Memory, RequestsPastTheMachineAreRefusedWithTheBytes) {
  const int64_t available = available_memory_bytes();
  EXPECT_GT(available, int64_t{1} << 24);
  EXPECT_NO_THROW(require_memory(1 << 20, "a small table"));
  const std::string e = error_of([] { require_memory(int64_t{1} << 62, "data.prefetch = 9"); });
  EXPECT_NE(e.find("data.prefetch = 9 needs 4611686018427387904 bytes ("), std::string::npos) << e;
  EXPECT_NE(e.find(std::to_string(available) + " bytes"), std::string::npos) << e;
}

}  // namespace
}  // namespace stride
