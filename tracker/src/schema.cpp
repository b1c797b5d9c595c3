// Versioned migrations of the store schema, in order. Each runs inside the
// caller's write transaction together with the user_version update, so a
// crash leaves either the old version or the new one, never a mix.
#include "stride/tracker/schema.h"

#include <array>
#include <optional>

#include "stride/common/error.h"
#include "stride/tracker/sqlite.h"

namespace stride::tracker::schema {
namespace {

// Version 1: the tables DESIGN.md §4 lists. NULL in a REAL value column is NaN
// (SQLite stores NaN as NULL); a metric row with NULL step is an epoch value.
void migrate_to_1(sqlite3* db) {
  sqlite::execute(db, R"sql(
CREATE TABLE experiments (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  created_at  REAL NOT NULL
);
CREATE TABLE trials (
  id               INTEGER PRIMARY KEY,
  experiment_id    INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
  status           TEXT NOT NULL
                   CHECK (status IN ('running','completed','stopped_early','pruned','failed')),
  params           TEXT NOT NULL,
  param_hash       TEXT NOT NULL,
  world_size       INTEGER NOT NULL DEFAULT 1,
  device           TEXT NOT NULL DEFAULT '',
  host             TEXT NOT NULL DEFAULT '',
  pid              INTEGER NOT NULL DEFAULT 0,
  pid_started      INTEGER,
  started_at       REAL NOT NULL,
  ended_at         REAL,
  heartbeat_at     REAL NOT NULL,
  best_metric      TEXT,
  best_goal        TEXT CHECK (best_goal IN ('min','max')),
  best_value       REAL,
  best_epoch       INTEGER,
  checkpoint_path  TEXT,
  error            TEXT,
  config_text      TEXT NOT NULL DEFAULT '',
  attempts         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX trials_by_experiment ON trials (experiment_id, param_hash);
CREATE INDEX trials_by_status ON trials (status);
CREATE TABLE params (
  trial_id  INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  name      TEXT NOT NULL,
  type      TEXT NOT NULL CHECK (type IN ('int','real','text','bool')),
  value,
  PRIMARY KEY (trial_id, name)
) WITHOUT ROWID;
CREATE INDEX params_by_name ON params (name, value);
CREATE TABLE metrics (
  trial_id   INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  epoch      INTEGER NOT NULL,
  step       INTEGER,
  value      REAL,
  wall_time  REAL NOT NULL
);
CREATE INDEX metrics_by_trial ON metrics (trial_id, name, epoch);
CREATE TABLE decisions (
  id          INTEGER PRIMARY KEY,
  trial_id    INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  epoch       INTEGER NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('early_stop','reduce_lr','prune','keep')),
  checker     TEXT NOT NULL DEFAULT '',
  monitor     TEXT NOT NULL DEFAULT '',
  value       REAL,
  best        REAL,
  wait        INTEGER NOT NULL DEFAULT 0,
  patience    INTEGER NOT NULL DEFAULT 0,
  reason      TEXT NOT NULL DEFAULT '',
  created_at  REAL NOT NULL
);
CREATE INDEX decisions_by_trial ON decisions (trial_id, epoch);
CREATE TABLE evaluations (
  id                  INTEGER PRIMARY KEY,
  trial_id            INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  split               TEXT NOT NULL,
  accuracy            REAL,
  loss                REAL,
  macro_precision     REAL,
  macro_recall        REAL,
  macro_f1            REAL,
  weighted_precision  REAL,
  weighted_recall     REAL,
  weighted_f1         REAL,
  confusion           TEXT NOT NULL,
  created_at          REAL NOT NULL,
  UNIQUE (trial_id, split)
);
CREATE TABLE evaluation_classes (
  evaluation_id  INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
  class_index    INTEGER NOT NULL,
  name           TEXT NOT NULL,
  precision      REAL,
  recall         REAL,
  f1             REAL,
  support        INTEGER NOT NULL,
  PRIMARY KEY (evaluation_id, class_index)
) WITHOUT ROWID;
)sql");
}

// Version 2: each trial's last epoch value per metric, kept by triggers, so the
// leaderboard reads one row per (trial, metric) instead of every epoch's rows.
// Existing metrics are summarised once here.
void migrate_to_2(sqlite3* db) {
  sqlite::execute(db, R"sql(
CREATE TABLE final_metrics (
  trial_id  INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  name      TEXT NOT NULL,
  epoch     INTEGER NOT NULL,
  value     REAL,
  PRIMARY KEY (trial_id, name)
) WITHOUT ROWID;
INSERT INTO final_metrics (trial_id, name, epoch, value)
  SELECT trial_id, name, max(epoch), value FROM metrics WHERE step IS NULL GROUP BY trial_id, name;
CREATE TRIGGER metrics_final_after_insert AFTER INSERT ON metrics WHEN NEW.step IS NULL BEGIN
  INSERT INTO final_metrics (trial_id, name, epoch, value) VALUES (NEW.trial_id, NEW.name, NEW.epoch, NEW.value)
    ON CONFLICT (trial_id, name) DO UPDATE SET epoch = excluded.epoch, value = excluded.value
    WHERE excluded.epoch >= final_metrics.epoch;
END;
CREATE TRIGGER metrics_final_after_delete AFTER DELETE ON metrics WHEN OLD.step IS NULL BEGIN
  DELETE FROM final_metrics WHERE trial_id = OLD.trial_id AND name = OLD.name;
  INSERT INTO final_metrics (trial_id, name, epoch, value)
    SELECT trial_id, name, epoch, value FROM metrics
    WHERE trial_id = OLD.trial_id AND name = OLD.name AND step IS NULL
    ORDER BY epoch DESC LIMIT 1;
END;
)sql");
}

struct Migration {
  int version;
  std::string_view description;
  void (*apply)(sqlite3*);
};

constexpr std::array kMigrations = {
    Migration{1, "experiments, trials, params, metrics, decisions, evaluations", migrate_to_1},
    Migration{2, "final_metrics summary kept by triggers", migrate_to_2},
};

int pragma_int(sqlite3* db, const char* pragma) {
  sqlite::Statement statement(db, pragma);
  return statement.step() ? static_cast<int>(statement.column_int(0)) : 0;
}

}  // namespace

int latest_version() { return kMigrations.back().version; }

FileIdentity identify(sqlite3* db) {
  // One snapshot for the three reads: read one by one, another process's
  // migration could commit between them (application_id 0 from before it,
  // its tables from after), and a store being created would look foreign.
  // Inside a transaction, or while a statement is stepping (which holds a
  // read transaction open), the reads already share one.
  bool stepping = false;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s != nullptr && !stepping; s = sqlite3_next_stmt(db, s))
    stepping = sqlite3_stmt_busy(s) != 0;
  std::optional<sqlite::Transaction> snapshot;
  if (sqlite3_get_autocommit(db) && !stepping) snapshot.emplace(db, sqlite::Transaction::Kind::deferred);
  FileIdentity identity;
  identity.application_id = static_cast<int32_t>(pragma_int(db, "PRAGMA application_id"));
  identity.user_version = pragma_int(db, "PRAGMA user_version");
  {
    sqlite::Statement tables(db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    while (tables.step()) {
      if (identity.table_count++ == 0) identity.first_table = tables.column_text(0);
    }
  }
  if (snapshot) snapshot->commit();
  return identity;
}

void migrate(sqlite3* db, int from_version, int to_version) {
  if (from_version == 0) sqlite::execute(db, fmt::format("PRAGMA application_id = {}", kApplicationId));
  for (const auto& migration : kMigrations) {
    if (migration.version <= from_version || migration.version > to_version) continue;
    migration.apply(db);
  }
  sqlite::execute(db, fmt::format("PRAGMA user_version = {}", to_version));
}

std::string_view describe(int version) {
  for (const auto& migration : kMigrations)
    if (migration.version == version) return migration.description;
  return "unknown";
}

}  // namespace stride::tracker::schema
