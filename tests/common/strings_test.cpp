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

std::string component_error(std::string_view value) {
  try {
    check_path_component(value, "experiment.name");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Strings, PathComponentsRefuseWhatLeavesTheDirectory) {
  for (const std::string_view good : {"fashion", "seed_cnn-v2.1", "naïve", "A b"})
    EXPECT_EQ(component_error(good), "") << good;
  const std::pair<std::string, std::string> bad[] = {
      {"../../x", "'/'"},
      {"a/b", "'/'"},
      {"a\\b", "'/'"},
      {"..", "'..'"},
      {"x..y", "'..'"},
      {std::string("a\0b", 3), "control"},
      {"a\x1b[2Jb", "control"},
      {"tab\there", "control"},
      {"a\xc2\x9b"
       "b",
       "control"},
      {"-rf", "start with"},
      {".hidden", "start with"},
      {std::string(kMaxNameBytes + 1, 'a'), "longer than 128 bytes"},
      {"", "empty"},
      {"\xff\xfe", "UTF-8"},
  };
  for (const auto& [value, reason] : bad) {
    const std::string e = component_error(value);
    EXPECT_NE(e.find("experiment.name = '"), std::string::npos) << e;
    EXPECT_NE(e.find(reason), std::string::npos) << printable(value) << ": " << e;
    EXPECT_EQ(e.find('\x1b'), std::string::npos) << "the error line itself must be printable";
  }
}

TEST(Strings, PrintableShowsControlCharacters) {
  EXPECT_EQ(printable("plain naïve ✓"), "plain naïve ✓");
  EXPECT_EQ(printable("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(printable("a\tb\nc\rd"), "a\\tb\\nc\\rd");
  EXPECT_EQ(printable(std::string("\0\x7f", 2)), "\\x00\\x7f");
  EXPECT_EQ(printable("\xc2\x9b"), "\\u009b");     // C1 CSI as UTF-8
  EXPECT_EQ(printable("\x9b"), "\\x9b");           // a raw C1 byte (not UTF-8)
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");  // a truncated sequence
}

TEST(Strings, HumanUnits) {
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_duration(3723), "1h02m03s");
  EXPECT_EQ(human_duration(75), "1m15s");
}

}  // namespace
}  // namespace stride
