// Table rendering in the three formats.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stride/common/error.h"
#include "stride/common/table.h"

namespace stride {
namespace {

Table sample() {
  Table t({"trial", "lr", "val_accuracy", "note"});
  t.set_precision("val_accuracy", 3);
  t.add_row({int64_t{1}, 0.001, 0.91234, std::string("a,\"b\"")});
  t.add_row({int64_t{12}, 0.01, std::monostate{}, std::string("naïve")});
  return t;
}

TEST(Table, TextAlignsColumnsAndRightAlignsNumbers) {
  const std::string text = sample().to_text();
  EXPECT_NE(text.find("trial  lr     val_accuracy  note"), std::string::npos) << text;
  EXPECT_NE(text.find("    1  0.001         0.912  a,\"b\""), std::string::npos) << text;
  EXPECT_NE(text.find("   12   0.01                naïve"), std::string::npos) << text;
}

TEST(Table, CsvQuotesFieldsThatNeedIt) {
  const std::string csv = sample().to_csv();
  EXPECT_NE(csv.find("1,0.001,0.91234,\"a,\"\"b\"\"\"\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("12,0.01,,naïve\n"), std::string::npos) << csv;
}

TEST(Table, JsonKeepsNumbersAndNulls) {
  const nlohmann::json j = sample().to_json();
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["trial"], 1);
  EXPECT_DOUBLE_EQ(j[0]["val_accuracy"].get<double>(), 0.91234);
  EXPECT_TRUE(j[1]["val_accuracy"].is_null());
  EXPECT_EQ(j[1]["note"], "naïve");
}

TEST(Table, RowWidthMustMatchAndFormatsParse) {
  Table t({"a", "b"});
  EXPECT_THROW(t.add_row({int64_t{1}}), Error);
  EXPECT_EQ(parse_table_format("table"), TableFormat::text);
  EXPECT_EQ(parse_table_format("JSON"), TableFormat::json);
  EXPECT_THROW(parse_table_format("xml"), ConfigError);
}

}  // namespace
}  // namespace stride
