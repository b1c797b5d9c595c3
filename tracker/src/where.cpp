// `--where` resolution: see where.h for the rules.
#include "where.h"

#include <charconv>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride::tracker::detail {
namespace {

struct Column {
  std::string_view name;
  std::string_view sql;  // ours, never the user's
  bool numeric;
};

constexpr Column kColumns[] = {
    {"id", "t.id", true},
    {"experiment", "e.name", false},
    {"device", "t.device", false},
    {"host", "t.host", false},
    {"world_size", "t.world_size", true},
    {"epochs", "coalesce((SELECT max(f.epoch) + 1 FROM final_metrics f WHERE f.trial_id = t.id), 0)", true},
    {"best_metric", "t.best_metric", false},
    {"best_value", "t.best_value", true},
    {"best_epoch", "t.best_epoch", true},
    {"attempts", "t.attempts", true},
    {"started_at", "t.started_at", true},
    {"ended_at", "t.ended_at", true},
    {"pid", "t.pid", true},
};

std::optional<double> parse_number(const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

double number_or_fail(const Condition& c, std::string_view kind) {
  if (auto value = parse_number(c.value)) return *value;
  fail<StoreError>("--where '{}': {} '{}' is numeric and '{}' is not a number", c.text, kind, c.name, c.value);
}

std::vector<std::string> all_names(sqlite3* db) {
  std::vector<std::string> names(trial_column_names());
  for (const char* sql : {"SELECT DISTINCT name FROM params", "SELECT DISTINCT name FROM final_metrics"}) {
    sqlite::Statement statement(db, sql);
    while (statement.step()) names.push_back(statement.column_text(0));
  }
  return names;
}

std::string op_sql(CompareOp op) {
  std::string text = " ";
  text.append(compare_op_text(op));
  text.push_back(' ');
  return text;
}

}  // namespace

void add_conditions(sqlite3* db, const std::string& path, std::span<const Condition> conditions, WhereClause& clause) {
  for (const auto& c : conditions) {
    if (c.name == "status") {
      if (c.op != CompareOp::equal && c.op != CompareOp::not_equal)
        fail<StoreError>("--where '{}': status can only be compared with = or !=", c.text);
      clause.status_filters.push_back({c.op, parse_status(c.value)});
      continue;
    }
    bool resolved = false;
    for (const auto& column : kColumns) {
      if (column.name != c.name) continue;
      clause.sql += " AND " + std::string(column.sql) + op_sql(c.op) + "?";
      if (column.numeric)
        clause.bindings.emplace_back(number_or_fail(c, "column"));
      else
        clause.bindings.emplace_back(c.value);
      resolved = true;
    }
    if (resolved) continue;

    sqlite::Statement param(db, "SELECT type FROM params WHERE name = ? LIMIT 1");
    if (param.bind(1, c.name).step()) {
      const ParamType type = parse_param_type(param.column_text(0));
      clause.sql += " AND EXISTS (SELECT 1 FROM params p WHERE p.trial_id = t.id AND p.name = ? AND p.value" +
                    op_sql(c.op) + "?)";
      clause.bindings.emplace_back(c.name);
      if (type == ParamType::integer || type == ParamType::real) {
        clause.bindings.emplace_back(number_or_fail(c, "parameter"));
      } else if (type == ParamType::boolean) {
        const std::string v = to_lower(c.value);
        if (v != "true" && v != "false" && v != "1" && v != "0")
          fail<StoreError>("--where '{}': parameter '{}' is a bool and '{}' is not true or false", c.text, c.name,
                           c.value);
        clause.bindings.emplace_back(int64_t{v == "true" || v == "1"});
      } else {
        clause.bindings.emplace_back(c.value);
      }
      continue;
    }

    sqlite::Statement metric(db, "SELECT 1 FROM final_metrics WHERE name = ? LIMIT 1");
    if (metric.bind(1, c.name).step()) {
      clause.sql += " AND EXISTS (SELECT 1 FROM final_metrics f WHERE f.trial_id = t.id AND f.name = ? AND f.value" +
                    op_sql(c.op) + "?)";
      clause.bindings.emplace_back(c.name);
      clause.bindings.emplace_back(number_or_fail(c, "metric"));
      continue;
    }

    const auto candidates = all_names(db);
    const std::string suggestion = closest_match(c.name, candidates);
    fail<StoreError>("--where '{}': unknown name '{}' in {} (not a trial column, parameter or metric){}", c.text,
                     c.name, path, suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?");
  }
}

bool status_matches(TrialStatus status, std::span<const StatusFilter> filters) {
  for (const auto& filter : filters) {
    const bool equal = status == filter.status;
    if (equal != (filter.op == CompareOp::equal)) return false;
  }
  return true;
}

int bind_values(sqlite::Statement& statement, std::span<const Binding> values, int first) {
  int index = first;
  for (const auto& value : values) std::visit([&](const auto& v) { statement.bind(index++, v); }, value);
  return index;
}

}  // namespace stride::tracker::detail
