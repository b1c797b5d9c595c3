// Parsing of `name op value` conditions; resolving them is the store's job.
#include "stride/tracker/query.h"

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride::tracker {

std::string_view compare_op_text(CompareOp op) {
  switch (op) {
    case CompareOp::equal: return "=";
    case CompareOp::not_equal: return "!=";
    case CompareOp::less: return "<";
    case CompareOp::less_equal: return "<=";
    case CompareOp::greater: return ">";
    case CompareOp::greater_equal: return ">=";
  }
  return "?";
}

Condition parse_condition(std::string_view text) {
  Condition condition;
  condition.text = std::string(text);
  const size_t at = text.find_first_of("=!<>");
  if (at == std::string_view::npos)
    fail<StoreError>("--where '{}': expected NAME OP VALUE with OP one of = != < <= > >=", text);
  const std::string_view two = text.substr(at, 2);
  size_t length = 1;
  if (two == "<=") {
    condition.op = CompareOp::less_equal, length = 2;
  } else if (two == ">=") {
    condition.op = CompareOp::greater_equal, length = 2;
  } else if (two == "!=" || two == "<>") {
    condition.op = CompareOp::not_equal, length = 2;
  } else if (two == "==") {
    condition.op = CompareOp::equal, length = 2;
  } else if (text[at] == '=') {
    condition.op = CompareOp::equal;
  } else if (text[at] == '<') {
    condition.op = CompareOp::less;
  } else if (text[at] == '>') {
    condition.op = CompareOp::greater;
  } else {
    fail<StoreError>("--where '{}': '!' must be followed by '='", text);
  }
  condition.name = trim(text.substr(0, at));
  condition.value = trim(text.substr(at + length));
  if (condition.value.size() >= 2 && (condition.value.front() == '\'' || condition.value.front() == '"') &&
      condition.value.back() == condition.value.front())
    condition.value = condition.value.substr(1, condition.value.size() - 2);
  if (condition.name.empty()) fail<StoreError>("--where '{}': no name before '{}'", text, compare_op_text(condition.op));
  if (condition.value.empty() && trim(text.substr(at + length)).empty())
    fail<StoreError>("--where '{}': no value after '{}'", text, compare_op_text(condition.op));
  return condition;
}

const std::vector<std::string>& trial_column_names() {
  static const std::vector<std::string> names = {
      "id",         "experiment", "status",    "device",     "host",       "world_size", "epochs",
      "best_metric", "best_value", "best_epoch", "attempts", "started_at", "ended_at",   "pid"};
  return names;
}

}  // namespace stride::tracker
