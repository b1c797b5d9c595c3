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

TEST(Table, CsvDefusesFormulasButKeepsNumbers) {
  Table t({"=name", "value"});
  t.add_row({std::string("=HYPERLINK(\"http://x\")"), std::string("-0.5")});
  t.add_row({std::string("+1+1"), std::string("-cmd|' /C calc'!A0")});
  t.add_row({std::string("@SUM(A1)"), -0.5});
  t.add_row({std::string("\tx"), std::string("\rx")});
  t.add_row({std::string("+3"), std::string("1e-7")});
  t.add_row({std::string("a=b"), int64_t{-4}});
  EXPECT_EQ(t.to_csv(),
            "'=name,value\n"
            "\"'=HYPERLINK(\"\"http://x\"\")\",-0.5\n"
            "'+1+1,'-cmd|' /C calc'!A0\n"
            "'@SUM(A1),-0.5\n"
            "'\tx,\"'\rx\"\n"
            "+3,1e-7\n"
            "a=b,-4\n");
  EXPECT_EQ(csv_escape("-1e-3"), "-1e-3");
  EXPECT_EQ(csv_escape("-"), "'-");
  EXPECT_EQ(csv_escape("-inf"), "'-inf");
  EXPECT_EQ(csv_escape("-5", true), "-5");
}

TEST(Table, TextShowsControlCharactersEscaped) {
  Table t({"name\x1b]0;title\x07", "n"});
  t.add_row({std::string("\x1b[2J\x1b[31mred"), int64_t{1}});
  t.add_row({std::string("c1\xc2\x9b"
                         "6n del\x7f"),
             int64_t{22}});
  const std::string text = t.to_text();
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u == '\n' || (u >= 0x20 && u != 0x7f)) << "raw control byte " << int(u) << " in\n" << text;
  }
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos) << text;
  EXPECT_NE(text.find("name\\x1b]0;title\\x07"), std::string::npos) << text;
  EXPECT_NE(text.find("\n\\x1b[2J\\x1b[31mred     1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nc1\\u009b6n del\\x7f    22\n"), std::string::npos) << text;
  // JSON keeps the text as it is (its own escaping).
  EXPECT_EQ(t.to_json()[0]["name\x1b]0;title\x07"], "\x1b[2J\x1b[31mred");
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
