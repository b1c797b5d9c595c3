// A result table printed three ways: aligned text for people, CSV for
// spreadsheets, JSON (a list of objects) for scripts. Every command that prints
// rows (report, bench, eval) goes through it, so `--format` means the same
// everywhere. Cells hold text or numbers; numbers stay numbers in JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace stride {

enum class TableFormat { text, csv, json };

// "table" | "text" -> text, "csv", "json"; throws ConfigError naming the value otherwise.
TableFormat parse_table_format(const std::string& name);

class Table {
 public:
  using Cell = std::variant<std::monostate, std::string, int64_t, double>;

  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}

  // Digits after the point for a numeric column in text output (JSON keeps full precision).
  void set_precision(const std::string& column, int digits);
  void add_row(std::vector<Cell> row);

  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<Cell>>& rows() const { return rows_; }

  std::string render(TableFormat format) const;
  std::string to_text() const;
  std::string to_csv() const;
  nlohmann::json to_json() const;

 private:
  std::string cell_text(size_t column, const Cell& cell) const;

  std::vector<std::string> columns_;
  std::vector<int> precision_;
  std::vector<std::vector<Cell>> rows_;
};

// One CSV field, as every CSV writer emits it: RFC 4180 quoting (fields with
// a comma, quote, CR or LF quoted, quotes doubled), and text that a
// spreadsheet would run as a formula (starting with = + - @ tab or CR, and not
// a number such as -0.5) prefixed with ' (OWASP's CSV injection advice).
// `number`: the field is a number cell's text, never prefixed.
std::string csv_escape(std::string_view field, bool number = false);

}  // namespace stride
