// Shared helpers for the tracker tests: a fresh store in a temporary directory
// and small builders for the records the training loop writes.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stride/tracker/sqlite.h"
#include "stride/tracker/store.h"
#include "temp_dir.h"

namespace stride::tracker::testing {

inline NewTrial new_trial(int64_t experiment_id, Params params = {}) {
  NewTrial trial;
  trial.experiment_id = experiment_id;
  trial.params = std::move(params);
  return trial;
}

inline std::vector<MetricRow> epoch_rows(int64_t epoch, double accuracy, double loss) {
  return {{"val_accuracy", epoch, std::nullopt, accuracy, 0},
          {"val_loss", epoch, std::nullopt, loss, 0},
          {"train_loss", epoch, std::nullopt, loss * 0.9, 0}};
}

inline int64_t count_rows(sqlite3* db, const std::string& sql) {
  sqlite::Statement statement(db, sql);
  return statement.step() ? statement.column_int(0) : -1;
}

inline std::string integrity_check(const std::string& path) {
  auto db = sqlite::open_connection(path, SQLITE_OPEN_READONLY);
  sqlite::Statement check(db.get(), "PRAGMA integrity_check");
  return check.step() ? check.column_text(0) : "no result";
}

class StoreTest : public ::testing::Test {
 public:
  std::string db_path() const { return (dir_ / "runs" / "stride.db").string(); }
  Store open(Access access = Access::read_write, StoreOptions options = {}) {
    return Store::open(db_path(), access, options);
  }

 protected:
  stride::testing::TempDir dir_;
};

}  // namespace stride::tracker::testing
