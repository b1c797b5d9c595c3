// String helpers: suggestions for typos and strict number parsing.
#include <gtest/gtest.h>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride {
namespace {

TEST(Strings, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("batch_size", "batch_szie"), 2u);
}

TEST(Strings, ClosestMatchSuggestsTyposOnly) {
  const std::vector<std::string> keys = {"batch_size", "epochs", "lr", "optimizer"};
  EXPECT_EQ(closest_match("batchsize", keys), "batch_size");
  EXPECT_EQ(closest_match("epoch", keys), "epochs");
  EXPECT_EQ(closest_match("completely_unrelated", keys), "");
}

TEST(Strings, SplitKeepsOrSkipsEmpty) {
  EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split("a,,b", ',', true), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(trim("  x y \t"), "x y");
}

TEST(Strings, StrictNumbers) {
  EXPECT_EQ(parse_int(" 32 ", "data.batch_size"), 32);
  EXPECT_DOUBLE_EQ(parse_double("1e-3", "train.lr"), 1e-3);
  EXPECT_TRUE(parse_bool("Yes", "augment.hflip"));
  try {
    parse_int("32x", "data.batch_size");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data.batch_size"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("32x"), std::string::npos);
  }
  EXPECT_THROW(parse_double("nan", "train.lr"), ConfigError);
  EXPECT_THROW(parse_bool("maybe", "augment.hflip"), ConfigError);
}

TEST(Strings, HumanUnits) {
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_duration(3723), "1h02m03s");
  EXPECT_EQ(human_duration(75), "1m15s");
}

}  // namespace
}  // namespace stride
