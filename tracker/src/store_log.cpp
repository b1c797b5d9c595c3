// The per-epoch writes of a running trial (metrics, decisions, evaluations)
// and the reaper that marks trials of dead processes failed. Each call is one
// transaction: a crash loses at most the batch being written.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "liveness.h"
#include "stride/tracker/store.h"

namespace stride::tracker {

void Store::log_metrics(int64_t trial_id, std::span<const MetricRow> rows) {
  write([&] {
    require_trial(trial_id);
    const double now = now_seconds();
    sqlite::Statement insert(db_.get(),
                             "INSERT INTO metrics (trial_id, name, epoch, step, value, wall_time) VALUES (?, ?, ?, ?, ?, ?)");
    for (const auto& row : rows) {
      if (row.name.empty()) fail<StoreError>("{}: trial {}: metric row with an empty name", path_, trial_id);
      insert.bind_all(trial_id, row.name, row.epoch, row.step, row.value, row.wall_time > 0 ? row.wall_time : now);
      insert.run();
      insert.reset();
    }
    touch(trial_id, now);
  });
}

void Store::log_decision(int64_t trial_id, const Decision& decision) { log_decisions(trial_id, {&decision, 1}); }

void Store::log_decisions(int64_t trial_id, std::span<const Decision> decisions) {
  write([&] {
    require_trial(trial_id);
    const double now = now_seconds();
    sqlite::Statement insert(db_.get(), R"sql(
INSERT INTO decisions (trial_id, epoch, kind, checker, monitor, value, best, wait, patience, reason, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    for (const auto& d : decisions) {
      insert.bind_all(trial_id, d.epoch, decision_kind_name(d.kind), d.checker, d.monitor, d.value, d.best, d.wait,
                      d.patience, d.reason, now);
      insert.run();
      insert.reset();
    }
    touch(trial_id, now);
  });
}

void Store::log_evaluation(int64_t trial_id, const Evaluation& evaluation) {
  const size_t classes = evaluation.classes.size();
  for (const auto& row : evaluation.confusion)
    if (row.size() != evaluation.confusion.size() || (classes && row.size() != classes))
      fail<StoreError>("{}: trial {}: confusion matrix for split '{}' is not {}x{}", path_, trial_id,
                       evaluation.split, classes, classes);
  write([&] {
    require_trial(trial_id);
    const double now = now_seconds();
    sqlite::Statement previous(db_.get(), "SELECT id FROM evaluations WHERE trial_id = ? AND split = ?");
    if (previous.bind_all(trial_id, evaluation.split).step()) {
      sqlite::Statement erase_classes(db_.get(), "DELETE FROM evaluation_classes WHERE evaluation_id = ?");
      erase_classes.bind(1, previous.column_int(0)).run();
      sqlite::Statement erase(db_.get(), "DELETE FROM evaluations WHERE id = ?");
      erase.bind(1, previous.column_int(0)).run();
    }
    sqlite::Statement insert(db_.get(), R"sql(
INSERT INTO evaluations (trial_id, split, accuracy, loss, macro_precision, macro_recall, macro_f1,
                         weighted_precision, weighted_recall, weighted_f1, confusion, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    insert.bind_all(trial_id, evaluation.split, evaluation.accuracy, evaluation.loss, evaluation.macro.precision,
                    evaluation.macro.recall, evaluation.macro.f1, evaluation.weighted.precision,
                    evaluation.weighted.recall, evaluation.weighted.f1, nlohmann::json(evaluation.confusion).dump(),
                    now);
    insert.run();
    const int64_t evaluation_id = sqlite3_last_insert_rowid(db_.get());
    sqlite::Statement insert_class(db_.get(), R"sql(
INSERT INTO evaluation_classes (evaluation_id, class_index, name, precision, recall, f1, support)
VALUES (?, ?, ?, ?, ?, ?, ?))sql");
    for (size_t i = 0; i < classes; ++i) {
      const auto& c = evaluation.classes[i];
      insert_class.bind_all(evaluation_id, static_cast<int64_t>(i), c.name, c.precision, c.recall, c.f1, c.support);
      insert_class.run();
      insert_class.reset();
    }
    touch(trial_id, now);
  });
}

std::vector<int64_t> Store::reap_dead_trials() {
  struct Dead {
    int64_t id;
    int64_t experiment_id;
    std::string reason;
  };
  const double grace = static_cast<double>(options_.heartbeat_grace.count());
  auto find_dead = [&] {
    std::vector<Dead> dead;
    const double now = now_seconds();
    sqlite::Statement running(db_.get(), R"sql(
SELECT id, experiment_id, host, pid, pid_started, heartbeat_at FROM trials WHERE status = 'running')sql");
    while (running.step()) {
      const liveness::Owner owner{running.column_text(2), running.column_int(3), running.column_optional_int(4),
                                  running.column_double(5)};
      if (auto reason = liveness::death_reason(owner, host_, now, grace))
        dead.push_back({running.column_int(0), running.column_int(1), std::move(*reason)});
    }
    return dead;
  };

  std::vector<int64_t> ids;
  if (access_ == Access::read_only) {
    presumed_dead_.clear();
    for (auto& d : find_dead()) {
      ids.push_back(d.id);
      presumed_dead_[d.id] = {d.experiment_id, std::move(d.reason)};
    }
    return ids;
  }
  if (find_dead().empty()) return ids;  // the common case takes no write lock
  write([&] {
    ids.clear();
    sqlite::Statement mark(db_.get(), R"sql(
UPDATE trials SET status = 'failed', ended_at = heartbeat_at, error = ? WHERE id = ? AND status = 'running')sql");
    for (const auto& d : find_dead()) {
      mark.bind_all(d.reason, d.id).run();
      mark.reset();
      ids.push_back(d.id);
    }
  });
  return ids;
}

}  // namespace stride::tracker
