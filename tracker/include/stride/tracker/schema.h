// The store's schema and its migrations. A Stride store is an SQLite file whose
// header carries application_id kApplicationId ("STRD") and whose
// user_version is the schema version. Migration N turns version N-1 into N;
// adding one is writing a function and appending it to the list in schema.cpp.
// docs/STORE.md describes the tables.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace stride::tracker::schema {

inline constexpr int32_t kApplicationId = 0x53545244;  // "STRD"

// The version this build writes and reads.
int latest_version();

// What an opened SQLite file says about itself.
struct FileIdentity {
  int32_t application_id = 0;
  int user_version = 0;
  int table_count = 0;      // tables in sqlite_schema
  std::string first_table;  // one of them, for error messages
  bool empty() const { return application_id == 0 && user_version == 0 && table_count == 0; }
};
FileIdentity identify(sqlite3* db);

// Inside an open write transaction: marks the file as a Stride store and
// applies migrations after `from_version` up to `to_version`, then records it.
void migrate(sqlite3* db, int from_version, int to_version);

// The one-line description of migration `version` (for logs and docs).
std::string_view describe(int version);

}  // namespace stride::tracker::schema
