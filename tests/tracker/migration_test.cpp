// Opening stores of other versions and files that are not stores: an older
// schema is migrated in place, anything else fails with a message naming the
// file and what is wrong with it.
#include <fstream>

#include "error_of.h"
#include "fixture.h"
#include "stride/tracker/schema.h"

namespace stride::tracker::testing {
namespace {

// A store as version 1 of the schema left it, with one trial and three epochs.
void make_version_1_store(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  auto db = sqlite::open_connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite::Transaction transaction(db.get());
  schema::migrate(db.get(), 0, 1);
  sqlite::execute(db.get(), R"sql(
INSERT INTO experiments (id, name, created_at) VALUES (1, 'old', 1.0);
INSERT INTO trials (id, experiment_id, status, params, param_hash, started_at, heartbeat_at)
  VALUES (1, 1, 'completed', '{"train.lr":0.1}', 'h', 1.0, 2.0);
INSERT INTO params (trial_id, name, type, value) VALUES (1, 'train.lr', 'real', 0.1);
INSERT INTO metrics (trial_id, name, epoch, step, value, wall_time) VALUES
  (1, 'val_accuracy', 0, NULL, 0.5, 1.0), (1, 'val_accuracy', 1, NULL, 0.6, 1.0),
  (1, 'val_accuracy', 2, NULL, 0.7, 1.0), (1, 'val_accuracy', 2, 99, 0.1, 1.0);
)sql");
  transaction.commit();
}

void set_user_version(const std::string& path, int version) {
  auto db = sqlite::open_connection(path, SQLITE_OPEN_READWRITE);
  sqlite::execute(db.get(), "PRAGMA user_version = " + std::to_string(version));
}

// The message of the StoreError `open` throws, or "" when it does not throw.
template <typename Open>
std::string error_of(Open&& open) {
  return ::stride::testing::error_of<StoreError>(open);
}

TEST_F(StoreTest, NewStoreIsAtTheLatestVersionInWalMode) {
  auto store = open();
  EXPECT_EQ(store.schema_version(), schema::latest_version());
  sqlite::Statement mode(store.connection(), "PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.column_text(0), "wal");
  EXPECT_EQ(schema::identify(store.connection()).application_id, schema::kApplicationId);
}

TEST_F(StoreTest, OlderVersionIsMigratedKeepingItsData) {
  make_version_1_store(db_path());
  EXPECT_NE(error_of([&] { open(Access::read_only); }).find("must be migrated"), std::string::npos)
      << "a read-only open cannot migrate and must say so";
  auto store = open();
  EXPECT_EQ(store.schema_version(), schema::latest_version());
  const auto trials = store.trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].experiment, "old");
  EXPECT_EQ(trials[0].epochs, 3);
  EXPECT_EQ(trials[0].final_metrics.at("val_accuracy"), 0.7) << "the migration summarises existing metrics";
  // The triggers of version 2 keep the summary current from now on.
  store.log_metrics(1, std::vector<MetricRow>{{"val_accuracy", 3, std::nullopt, 0.8, 0}});
  EXPECT_EQ(store.trial(1).final_metrics.at("val_accuracy"), 0.8);
  EXPECT_EQ(integrity_check(db_path()), "ok");
}

TEST_F(StoreTest, NewerVersionIsRefusedNamingTheFile) {
  { open(); }
  set_user_version(db_path(), schema::latest_version() + 1);
  for (Access access : {Access::read_write, Access::read_only}) {
    const std::string message = error_of([&] { open(access); });
    EXPECT_NE(message.find(db_path()), std::string::npos) << message;
    EXPECT_NE(message.find("newer"), std::string::npos) << message;
  }
}

TEST_F(StoreTest, NonSqliteFileIsRefused) {
  std::filesystem::create_directories(std::filesystem::path(db_path()).parent_path());
  std::ofstream(db_path()) << "epoch,loss\n0,1.5\n1,1.2\n";
  const std::string message = error_of([&] { open(); });
  EXPECT_NE(message.find(db_path()), std::string::npos) << message;
  EXPECT_NE(message.find("not an SQLite database"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { open(Access::read_only); }), "");
}

TEST_F(StoreTest, SqliteFileOfAnotherApplicationIsRefused) {
  std::filesystem::create_directories(std::filesystem::path(db_path()).parent_path());
  {
    auto db = sqlite::open_connection(db_path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::execute(db.get(), "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
  }
  const std::string message = error_of([&] { open(); });
  EXPECT_NE(message.find("not a Stride experiment store"), std::string::npos) << message;
  EXPECT_NE(message.find("invoices"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { open(Access::read_only); }).find("not a Stride experiment store"), std::string::npos);
  // The other application's table is untouched.
  auto db = sqlite::open_connection(db_path(), SQLITE_OPEN_READONLY);
  EXPECT_EQ(count_rows(db.get(), "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"), 1);
}

TEST_F(StoreTest, ReadOnlyOpenOfAMissingFileIsAnErrorAndCreatesNothing) {
  const std::string message = error_of([&] { open(Access::read_only); });
  EXPECT_NE(message.find(db_path()), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(db_path()));
}

TEST_F(StoreTest, ReadWriteOpenCreatesParentDirectories) {
  open();
  EXPECT_TRUE(std::filesystem::exists(db_path()));
}

TEST_F(StoreTest, DirectoryIsNotAStore) {
  std::filesystem::create_directories(db_path());
  EXPECT_NE(error_of([&] { open(); }).find("directory"), std::string::npos);
}

}  // namespace
}  // namespace stride::tracker::testing
