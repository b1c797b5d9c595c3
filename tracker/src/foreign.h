// Other programs pointed at a store (MLflow's or Optuna's SQL backends run
// their migrations on any SQLite file they are given) add tables of their own.
// Stride's tables are what its migrations create; anything else is foreign.
// Internal to the tracker library.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

namespace stride::tracker::foreign {

// Tables of `db` that no Stride migration creates, sorted.
std::vector<std::string> foreign_tables(sqlite3* db);

// Logs one warning (once per store file and process) naming the foreign
// tables of `db`, if it has any: Stride's own tables still hold its data,
// but something else has written to the file.
void warn_about_foreign_tables(sqlite3* db, const std::string& path);

}  // namespace stride::tracker::foreign
