// Foreign tables: the store's tables minus those the migrations create,
// found by running the migrations on an empty in-memory database, so the
// list follows the schema as it grows.
#include "foreign.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "stride/common/strings.h"
#include "stride/tracker/schema.h"
#include "stride/tracker/sqlite.h"

namespace stride::tracker::foreign {
namespace {

std::vector<std::string> table_names(sqlite3* db) {
  std::vector<std::string> names;
  sqlite::Statement tables(db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  while (tables.step()) names.push_back(tables.column_text(0));
  std::sort(names.begin(), names.end());
  return names;
}

const std::vector<std::string>& stride_tables() {
  static const std::vector<std::string> names = [] {
    auto db = sqlite::open_connection(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    schema::migrate(db.get(), 0, schema::latest_version());
    return table_names(db.get());
  }();
  return names;
}

}  // namespace

std::vector<std::string> foreign_tables(sqlite3* db) {
  std::vector<std::string> found;
  const auto& ours = stride_tables();
  for (std::string& name : table_names(db))
    if (!std::binary_search(ours.begin(), ours.end(), name)) found.push_back(std::move(name));
  return found;
}

void warn_about_foreign_tables(sqlite3* db, const std::string& path) {
  const std::vector<std::string> found = foreign_tables(db);
  if (found.empty()) return;
  static std::mutex mutex;
  static std::set<std::string> warned;
  const std::lock_guard lock(mutex);
  if (!warned.insert(path).second) return;
  spdlog::warn(
      "{}: holds tables Stride does not create ({}): another program (MLflow and Optuna add theirs when "
      "pointed at a store) has written to it. Stride's tables are its own; see docs/STORE.md, \"Other "
      "programs\", to remove them, and point those tools at `stride report export` instead",
      path, join(found, ", "));
}

}  // namespace stride::tracker::foreign
