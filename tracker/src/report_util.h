// Helpers shared by the report renderers (internal to the tracker library).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "stride/common/table.h"
#include "stride/tracker/records.h"
#include "stride/tracker/report.h"

namespace stride::tracker::report::detail {

// Local time "2024-05-01 12:03:04"; "" for 0.
std::string format_time(double unix_seconds);
// "0.0031", "64", "true", text as is: compact text for people.
std::string format_number(double value);
// A parameter value as a table cell: numbers stay numbers.
Table::Cell param_cell(const ParamValue& value);
// A double as a table cell; NaN becomes an empty cell (JSON null).
Table::Cell number_cell(double value);
Table::Cell optional_cell(const std::optional<double>& value);
// For text tables: string cells longer than kLongValue abbreviated; returns
// whether any was (so the table can say how to see them whole).
bool abbreviate_cells(std::vector<Table::Cell>& cells);
inline constexpr const char* kShortenedNote =
    "(values longer than 40 characters are shortened with '…'; --wide shows them whole)\n";
// Well-known metric names first (DESIGN.md §5 order), then the rest alphabetically.
void order_metrics(std::vector<std::string>& names);
// Best value of a curve by the metric's default goal: (value, index) or nullopt when all NaN.
struct CurveBest {
  double value = 0;
  size_t index = 0;
};
std::optional<CurveBest> curve_best(const std::string& metric, const std::vector<double>& values);

}  // namespace stride::tracker::report::detail
