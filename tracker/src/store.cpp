// The trial lifecycle: start, claim, resume, heartbeat, finish (opening a
// store is store_open.cpp). Every write is one IMMEDIATE
// transaction through Store::write, which retries while another process holds
// the lock; nothing here holds a transaction open across the caller's work.
#include "stride/tracker/store.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "liveness.h"
#include "stride/tracker/schema.h"

namespace stride::tracker {
namespace {

struct Owner {
  std::string host;
  int64_t pid = 0;
  std::optional<int64_t> pid_started;
};

Owner owner_of(const NewTrial& trial, const std::string& this_host) {
  Owner owner{trial.host.empty() ? this_host : trial.host, trial.pid ? trial.pid : ::getpid(), std::nullopt};
  if (owner.host == this_host) owner.pid_started = liveness::process_start_ticks(owner.pid);
  return owner;
}

}  // namespace

Store::Store(sqlite::Connection db, std::string path, Access access, StoreOptions options)
    : db_(std::move(db)), path_(std::move(path)), access_(access), options_(options), host_(this_host()) {}

int Store::schema_version() { return schema::identify(db_.get()).user_version; }

void Store::require_writable() const {
  if (access_ != Access::read_write) fail<StoreError>("{}: opened read-only; cannot write", path_);
}

void Store::require_trial(int64_t trial_id) {
  sqlite::Statement find(db_.get(), "SELECT 1 FROM trials WHERE id = ?");
  if (!find.bind(1, trial_id).step()) fail<StoreError>("{}: no trial {}", path_, trial_id);
}

void Store::touch(int64_t trial_id, double now) {
  sqlite::Statement update(db_.get(), "UPDATE trials SET heartbeat_at = ? WHERE id = ? AND status = 'running'");
  update.bind_all(now, trial_id).run();
}

int64_t Store::ensure_experiment(std::string_view name) {
  if (name.empty()) fail<StoreError>("{}: experiment name is empty", path_);
  return write([&] {
    sqlite::Statement insert(db_.get(),
                             "INSERT INTO experiments (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING");
    insert.bind_all(name, now_seconds()).run();
    sqlite::Statement find(db_.get(), "SELECT id FROM experiments WHERE name = ?");
    find.bind(1, name).step();
    return find.column_int(0);
  });
}

std::optional<int64_t> Store::find_experiment(std::string_view name) {
  sqlite::Statement find(db_.get(), "SELECT id FROM experiments WHERE name = ?");
  if (!find.bind(1, name).step()) return std::nullopt;
  return find.column_int(0);
}

void Store::insert_params(int64_t trial_id, const Params& params) {
  sqlite::Statement insert(db_.get(), "INSERT INTO params (trial_id, name, type, value) VALUES (?, ?, ?, ?)");
  for (const auto& [name, value] : params) {
    insert.bind_all(trial_id, name, param_type_name(value.type()));
    switch (value.type()) {
      case ParamType::integer:
      case ParamType::boolean:
        insert.bind(4, value.as_int());
        break;
      case ParamType::real:
        insert.bind(4, value.as_double());
        break;
      case ParamType::text:
        insert.bind(4, value.as_text());
        break;
    }
    insert.run();
    insert.reset();
  }
}

namespace {

int64_t insert_trial(sqlite3* db, const NewTrial& trial, const Owner& owner, double now) {
  sqlite::Statement insert(db, R"sql(
INSERT INTO trials (experiment_id, status, params, param_hash, world_size, device, host, pid, pid_started,
                    started_at, heartbeat_at, config_text)
VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
  insert.bind_all(trial.experiment_id, params_to_json(trial.params).dump(), param_hash(trial.identity_params()),
                  trial.world_size, trial.device, owner.host, owner.pid, owner.pid_started, now, now,
                  trial.config_text);
  insert.run();
  return sqlite3_last_insert_rowid(db);
}

void write_best(sqlite3* db, int64_t trial_id, const BestMetric& best) {
  sqlite::Statement update(db, R"sql(
UPDATE trials SET best_metric = ?, best_goal = ?, best_value = ?, best_epoch = ? WHERE id = ?)sql");
  update.bind_all(best.metric, goal_name(best.goal.value_or(default_goal(best.metric))), best.value, best.epoch,
                  trial_id);
  update.run();
}

}  // namespace

int64_t Store::start_trial(const NewTrial& trial) {
  const Owner owner = owner_of(trial, host_);
  return write([&] {
    sqlite::Statement experiment(db_.get(), "SELECT 1 FROM experiments WHERE id = ?");
    if (!experiment.bind(1, trial.experiment_id).step())
      fail<StoreError>("{}: no experiment with id {}", path_, trial.experiment_id);
    const int64_t id = insert_trial(db_.get(), trial, owner, now_seconds());
    insert_params(id, trial.params);
    return id;
  });
}

std::optional<Claim> Store::claim_trial(const NewTrial& trial, bool retry_failed) {
  const Owner owner = owner_of(trial, host_);
  const std::string hash = param_hash(trial.identity_params());
  return write([&]() -> std::optional<Claim> {
    const double now = now_seconds();
    sqlite::Statement find(db_.get(), R"sql(
SELECT id, status, host, pid, pid_started, heartbeat_at, checkpoint_path, error FROM trials
WHERE experiment_id = ? AND param_hash = ? ORDER BY id DESC LIMIT 1)sql");
    if (!find.bind_all(trial.experiment_id, hash).step()) {
      const int64_t id = insert_trial(db_.get(), trial, owner, now);
      insert_params(id, trial.params);
      return Claim{id, false, std::nullopt, std::nullopt};
    }
    const int64_t id = find.column_int(0);
    const TrialStatus status = parse_status(find.column_text(1));
    // A trial whose process died (reaped) was interrupted, not failed by its own
    // error: it is resumed without being asked; real failures only with retry_failed.
    const auto error = find.column_optional_text(7);
    const bool interrupted = error && error->starts_with(liveness::kReapedPrefix);
    bool take = status == TrialStatus::failed && (retry_failed || interrupted);
    std::optional<std::string> reason;
    if (status == TrialStatus::running) {
      const liveness::Owner previous{find.column_text(2), find.column_int(3), find.column_optional_int(4),
                                     find.column_double(5)};
      reason = liveness::death_reason(previous, host_, now, static_cast<double>(options_.heartbeat_grace.count()));
      take = reason.has_value();
    }
    if (!take) return std::nullopt;
    Claim claim{id, true, reason ? TrialStatus::failed : status, find.column_optional_text(6)};
    sqlite::Statement update(db_.get(), R"sql(
UPDATE trials SET status = 'running', host = ?, pid = ?, pid_started = ?, heartbeat_at = ?, ended_at = NULL,
                  error = NULL, attempts = attempts + 1, world_size = ?, device = ?, config_text = ?
WHERE id = ?)sql");
    update.bind_all(owner.host, owner.pid, owner.pid_started, now, trial.world_size, trial.device, trial.config_text,
                    id);
    update.run();
    return claim;
  });
}

std::optional<TrialRecord> Store::find_trial(int64_t experiment_id, std::string_view hash) {
  sqlite::Statement find(db_.get(),
                         "SELECT id FROM trials WHERE experiment_id = ? AND param_hash = ? ORDER BY id DESC LIMIT 1");
  if (!find.bind_all(experiment_id, hash).step()) return std::nullopt;
  return trial(find.column_int(0));
}

void Store::resume_trial(int64_t trial_id, int64_t from_epoch, int64_t pid, std::string_view host) {
  NewTrial as_owner;
  as_owner.pid = pid;
  as_owner.host = std::string(host);
  const Owner owner = owner_of(as_owner, host_);
  write([&] {
    require_trial(trial_id);
    // A trial this process has just claimed (claim_trial counted that attempt) is not a new attempt.
    sqlite::Statement update(db_.get(), R"sql(
UPDATE trials SET status = 'running', host = ?1, pid = ?2, pid_started = ?3, heartbeat_at = ?4, ended_at = NULL,
                  error = NULL, attempts = attempts + (status != 'running' OR host != ?1 OR pid != ?2)
WHERE id = ?5)sql");
    update.bind_all(owner.host, owner.pid, owner.pid_started, now_seconds(), trial_id).run();
    sqlite::Statement forget_best(db_.get(), R"sql(
UPDATE trials SET best_metric = NULL, best_goal = NULL, best_value = NULL, best_epoch = NULL
WHERE id = ? AND best_epoch > ?)sql");
    forget_best.bind_all(trial_id, from_epoch).run();
    for (const char* sql : {"DELETE FROM metrics WHERE trial_id = ? AND epoch > ?",
                            "DELETE FROM decisions WHERE trial_id = ? AND epoch > ?"}) {
      sqlite::Statement erase(db_.get(), sql);
      erase.bind_all(trial_id, from_epoch).run();
    }
    // An evaluation describes the finished model, which the resumed run will change.
    sqlite::Statement stale(db_.get(), "DELETE FROM evaluations WHERE trial_id = ?");
    stale.bind(1, trial_id).run();
  });
}

void Store::heartbeat(int64_t trial_id) {
  write([&] {
    sqlite::Statement find(db_.get(), "SELECT status, host, pid, error FROM trials WHERE id = ?");
    if (!find.bind(1, trial_id).step()) fail<StoreError>("{}: no trial {}", path_, trial_id);
    const TrialStatus status = parse_status(find.column_text(0));
    const std::string host = find.column_text(1);
    const int64_t pid = find.column_int(2);
    const std::string error = find.column_text(3);
    const bool mine = host == host_ && pid == ::getpid();
    if (status == TrialStatus::running && !mine)
      fail<StoreError>("{}: trial {} is now run by process {} on {}; this process ({} on {}) must stop", path_,
                       trial_id, pid, host, ::getpid(), host_);
    const bool reaped = status == TrialStatus::failed && error.starts_with(liveness::kReapedPrefix);
    if (reaped && mine) {
      sqlite::Statement revive(db_.get(),
                               "UPDATE trials SET status = 'running', error = NULL, ended_at = NULL WHERE id = ?");
      revive.bind(1, trial_id).run();
    }
    touch(trial_id, now_seconds());
  });
}

void Store::set_best(int64_t trial_id, const BestMetric& best) {
  write([&] {
    require_trial(trial_id);
    write_best(db_.get(), trial_id, best);
  });
}

void Store::set_checkpoint(int64_t trial_id, std::string_view checkpoint) {
  write([&] {
    require_trial(trial_id);
    sqlite::Statement update(db_.get(), "UPDATE trials SET checkpoint_path = ? WHERE id = ?");
    update.bind_all(checkpoint, trial_id).run();
  });
}

void Store::finish_trial(int64_t trial_id, const TrialOutcome& outcome) {
  if (outcome.status == TrialStatus::running)
    fail<StoreError>("{}: finish_trial({}): the final status cannot be 'running'", path_, trial_id);
  write([&] {
    require_trial(trial_id);
    const double now = now_seconds();
    sqlite::Statement update(db_.get(), R"sql(
UPDATE trials SET status = ?, ended_at = ?, heartbeat_at = ?, error = ?,
                  checkpoint_path = coalesce(?, checkpoint_path) WHERE id = ?)sql");
    update.bind_all(status_name(outcome.status), now, now, outcome.error, outcome.checkpoint_path, trial_id);
    update.run();
    if (outcome.best) write_best(db_.get(), trial_id, *outcome.best);
  });
}

}  // namespace stride::tracker
