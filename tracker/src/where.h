// Turning `--where` conditions into SQL with bound values. Internal to the
// store. Names resolve, in order, to a trial column (from a fixed list whose
// SQL text is ours), a parameter name or a metric name; operators come from a
// fixed set; the user's name and value are always bound, never spliced.
// Conditions on `status` are checked after loading, because a read-only store
// may report a running trial as failed without having written it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "stride/tracker/query.h"
#include "stride/tracker/records.h"
#include "stride/tracker/sqlite.h"

namespace stride::tracker::detail {

using Binding = std::variant<int64_t, double, std::string>;

struct StatusFilter {
  CompareOp op = CompareOp::equal;
  TrialStatus status = TrialStatus::running;
};

struct WhereClause {
  std::string sql;  // " AND ..." fragments over aliases t (trials) and e (experiments)
  std::vector<Binding> bindings;
  std::vector<StatusFilter> status_filters;
};

// Throws StoreError naming the condition for an unknown name, an operator the
// name does not support, or a value of the wrong type.
void add_conditions(sqlite3* db, const std::string& path, std::span<const Condition> conditions, WhereClause& clause);

bool status_matches(TrialStatus status, std::span<const StatusFilter> filters);

// Binds values to consecutive parameters starting at `first`; returns the next index.
int bind_values(sqlite::Statement& statement, std::span<const Binding> values, int first = 1);

}  // namespace stride::tracker::detail
