// Table rendering: aligned text (numbers right-aligned, control characters
// made visible), CSV (RFC 4180, formula-looking text defused), JSON.
#include "stride/common/table.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride {
namespace {

// Display width of UTF-8 text: count code points, not bytes.
size_t display_width(const std::string& text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool is_number(const Table::Cell& cell) {
  return std::holds_alternative<int64_t>(cell) || std::holds_alternative<double>(cell);
}

// "-0.5", "+3", "-1e-7": text that reads whole as a decimal number.
bool is_plain_number(std::string_view text) {
  const size_t start = text.front() == '+' ? 1 : 0;
  if (start == text.size()) return false;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data() + start, text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && std::isfinite(value);
}

}  // namespace

TableFormat parse_table_format(const std::string& name) {
  const std::string n = to_lower(name);
  if (n == "table" || n == "text") return TableFormat::text;
  if (n == "csv") return TableFormat::csv;
  if (n == "json") return TableFormat::json;
  fail<ConfigError>("--format: expected table, csv or json, got '{}'", name);
}

void Table::set_precision(const std::string& column, int digits) {
  precision_.resize(columns_.size(), -1);
  for (size_t i = 0; i < columns_.size(); ++i)
    if (columns_[i] == column) precision_[i] = digits;
}

void Table::add_row(std::vector<Cell> row) {
  if (row.size() != columns_.size()) fail<Error>("table row has {} cells for {} columns", row.size(), columns_.size());
  rows_.push_back(std::move(row));
}

std::string Table::cell_text(size_t column, const Cell& cell) const {
  if (std::holds_alternative<std::monostate>(cell)) return "";
  if (const auto* s = std::get_if<std::string>(&cell)) return *s;
  if (const auto* i = std::get_if<int64_t>(&cell)) return fmt::format("{}", *i);
  const double d = std::get<double>(cell);
  const int digits = column < precision_.size() ? precision_[column] : -1;
  return digits >= 0 ? fmt::format("{:.{}f}", d, digits) : fmt::format("{:.6g}", d);
}

std::string Table::to_text() const {
  // A terminal obeys escape sequences: names from a store or a config show
  // their control characters as \x1b and the like instead.
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> cells;
  for (const auto& column : columns_) headers.push_back(printable(column));
  for (const auto& row : rows_) {
    cells.emplace_back();
    for (size_t c = 0; c < row.size(); ++c) cells.back().push_back(printable(cell_text(c, row[c])));
  }
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) widths[c] = display_width(headers[c]);
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));

  auto pad = [](const std::string& text, size_t width, bool right) {
    const std::string fill(width - std::min(width, display_width(text)), ' ');
    return right ? fill + text : text + fill;
  };
  std::string out;
  auto add_line = [&](auto&& cell_of) {
    for (size_t c = 0; c < columns_.size(); ++c) {
      if (c) out += "  ";
      out += cell_of(c);
    }
    out += '\n';
  };
  add_line([&](size_t c) { return pad(headers[c], widths[c], false); });
  add_line([&](size_t c) { return std::string(widths[c], '-'); });
  for (size_t r = 0; r < rows_.size(); ++r)
    add_line([&](size_t c) { return pad(cells[r][c], widths[c], is_number(rows_[r][c])); });
  return out;
}

std::string csv_escape(std::string_view field, bool number) {
  std::string text(field);
  // A spreadsheet runs a text cell that starts like a formula (OWASP's list);
  // a leading quote makes it text. Numbers, negative ones included, stay numbers.
  if (!number && !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos &&
      !is_plain_number(text))
    text.insert(0, 1, '\'');
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string Table::to_csv() const {
  std::string out;
  for (size_t c = 0; c < columns_.size(); ++c) {
    if (c) out += ',';
    out += csv_escape(columns_[c]);
  }
  out += '\n';
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) {
      std::string text;
      if (const auto* d = std::get_if<double>(&row[c]))
        text = fmt::format("{}", *d);  // shortest round-trip form
      else
        text = cell_text(c, row[c]);
      if (c) out += ',';
      out += csv_escape(text, is_number(row[c]));
    }
    out += '\n';
  }
  return out;
}

nlohmann::json Table::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& row : rows_) {
    nlohmann::json object = nlohmann::json::object();
    for (size_t c = 0; c < row.size(); ++c) {
      const auto& cell = row[c];
      if (std::holds_alternative<std::monostate>(cell))
        object[columns_[c]] = nullptr;
      else if (const auto* s = std::get_if<std::string>(&cell))
        object[columns_[c]] = *s;
      else if (const auto* i = std::get_if<int64_t>(&cell))
        object[columns_[c]] = *i;
      else
        object[columns_[c]] = std::get<double>(cell);
    }
    list.push_back(std::move(object));
  }
  return list;
}

std::string Table::render(TableFormat format) const {
  switch (format) {
    case TableFormat::text:
      return to_text();
    case TableFormat::csv:
      return to_csv();
    case TableFormat::json:
      return to_json().dump(2) + "\n";
  }
  return {};
}

}  // namespace stride
