// Filters for store queries. A `--where` condition is parsed into a name, an
// operator from a fixed set and a value; the store resolves the name against
// the trial columns, the parameter names and the metric names it holds, and
// binds both name and value as SQL parameters: text from a user never becomes
// SQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stride::tracker {

enum class CompareOp { equal, not_equal, less, less_equal, greater, greater_equal };

std::string_view compare_op_text(CompareOp op);  // "=", "!=", "<", "<=", ">", ">="

struct Condition {
  std::string name{};  // "train.lr", "status", "val_accuracy"
  CompareOp op = CompareOp::equal;
  std::string value{};  // as written; typed when the name is resolved
  std::string text{};   // the whole condition as written, for error messages
};

// Parses "name op value" (op one of = == != <> < <= > >=; spaces allowed
// around it; a value in matching quotes loses them). Throws StoreError naming
// the text when there is no operator, no name or no value.
Condition parse_condition(std::string_view text);

// The trial columns a condition or a sort may name besides parameters and metrics.
const std::vector<std::string>& trial_column_names();

struct TrialQuery {
  std::optional<std::string> experiment{};  // unset: every experiment
  std::vector<int64_t> ids{};               // empty: any id
  std::vector<Condition> where{};           // all must hold
  bool with_config = false;                 // also read each trial's config_text (large)
};

struct DecisionQuery {
  std::optional<std::string> experiment{};
  std::optional<int64_t> trial_id{};
  bool include_keep = true;  // "keep" rows are one per check and epoch: the bulk
};

}  // namespace stride::tracker
