// Reads for the report and for the grid's pruners. Each query that spans
// several statements runs inside one deferred (read) transaction, so it sees
// one snapshot even while training processes keep committing.
#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "stride/common/strings.h"
#include "stride/tracker/store.h"
#include "where.h"

namespace stride::tracker {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// SQLite stores NaN as NULL; read it back as NaN.
double value_or_nan(const sqlite::Statement& statement, int column) {
  return statement.is_null(column) ? kNaN : statement.column_double(column);
}

std::optional<BestMetric> read_best(const sqlite::Statement& s, int first) {
  if (s.is_null(first) || s.is_null(first + 2)) return std::nullopt;
  BestMetric best;
  best.metric = s.column_text(first);
  if (!s.is_null(first + 1)) best.goal = parse_goal(s.column_text(first + 1));
  best.value = s.column_double(first + 2);
  best.epoch = s.column_optional_int(first + 3).value_or(0);
  return best;
}

bool better(Goal goal, double a, double b) { return goal == Goal::minimize ? a < b : a > b; }

}  // namespace

void Store::apply_presumed_dead(TrialRecord& record) const {
  const auto it = presumed_dead_.find(record.id);
  if (it == presumed_dead_.end() || record.status != TrialStatus::running) return;
  record.status = TrialStatus::failed;
  record.error = it->second.reason;
  record.ended_at = record.heartbeat_at;
}

void Store::apply_presumed_dead(ExperimentSummary& summary) const {
  for (const auto& [id, dead] : presumed_dead_) {
    if (dead.experiment_id != summary.id || summary.trials_by_status[TrialStatus::running] == 0) continue;
    --summary.trials_by_status[TrialStatus::running];
    ++summary.trials_by_status[TrialStatus::failed];
  }
  std::erase_if(summary.trials_by_status, [](const auto& entry) { return entry.second == 0; });
}

std::vector<ExperimentSummary> Store::experiments() {
  reap_dead_trials();
  sqlite::Transaction snapshot(db_.get(), sqlite::Transaction::Kind::deferred);
  std::vector<ExperimentSummary> list;
  std::map<int64_t, size_t> index;
  sqlite::Statement experiments(db_.get(), "SELECT id, name, created_at FROM experiments ORDER BY name");
  while (experiments.step()) {
    index[experiments.column_int(0)] = list.size();
    ExperimentSummary summary;
    summary.id = experiments.column_int(0);
    summary.name = experiments.column_text(1);
    summary.created_at = experiments.column_double(2);
    list.push_back(std::move(summary));
  }
  sqlite::Statement counts(db_.get(), R"sql(
SELECT experiment_id, status, count(*), max(max(started_at, heartbeat_at, coalesce(ended_at, 0)))
FROM trials GROUP BY experiment_id, status)sql");
  while (counts.step()) {
    auto& summary = list[index.at(counts.column_int(0))];
    summary.trials_by_status[parse_status(counts.column_text(1))] = counts.column_int(2);
    summary.trials += counts.column_int(2);
    summary.last_activity = std::max(summary.last_activity.value_or(0), counts.column_double(3));
  }
  // The experiment's best: among its finished trials (a failed or pruned one
  // never is the best) reporting the metric most of them report.
  std::map<int64_t, std::vector<std::pair<int64_t, BestMetric>>> bests;
  sqlite::Statement best(db_.get(), R"sql(
SELECT experiment_id, id, best_metric, best_goal, best_value, best_epoch FROM trials
WHERE best_metric IS NOT NULL AND best_value IS NOT NULL AND status IN ('completed', 'stopped_early'))sql");
  while (best.step()) bests[best.column_int(0)].emplace_back(best.column_int(1), *read_best(best, 2));
  for (auto& [experiment_id, candidates] : bests) {
    std::map<std::string, int> votes;
    for (const auto& [trial_id, b] : candidates) ++votes[b.metric];
    const auto metric = std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
                          return a.second < b.second;
                        })->first;
    auto& summary = list[index.at(experiment_id)];
    for (const auto& [trial_id, b] : candidates) {
      if (b.metric != metric) continue;
      const Goal goal = b.goal.value_or(default_goal(b.metric));
      if (!summary.best || better(goal, b.value, summary.best->value)) {
        summary.best = b;
        summary.best_trial = trial_id;
      }
    }
  }
  snapshot.commit();
  for (auto& summary : list) apply_presumed_dead(summary);
  return list;
}

std::vector<TrialRecord> Store::trials(const TrialQuery& query) {
  reap_dead_trials();
  sqlite::Transaction snapshot(db_.get(), sqlite::Transaction::Kind::deferred);
  if (query.experiment && !find_experiment(*query.experiment)) {
    std::vector<std::string> names;
    sqlite::Statement all(db_.get(), "SELECT name FROM experiments");
    while (all.step()) names.push_back(all.column_text(0));
    const std::string suggestion = closest_match(*query.experiment, names);
    fail<StoreError>("{}: no experiment '{}'{}", path_, *query.experiment,
                     suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?");
  }
  detail::WhereClause where;
  if (query.experiment) {
    where.sql += " AND e.name = ?";
    where.bindings.emplace_back(*query.experiment);
  }
  if (!query.ids.empty()) {
    where.sql += " AND t.id IN (";
    for (size_t i = 0; i < query.ids.size(); ++i) {
      where.sql += i ? ", ?" : "?";
      where.bindings.emplace_back(query.ids[i]);
    }
    where.sql += ")";
  }
  detail::add_conditions(db_.get(), path_, query.where, where);

  sqlite::Statement select(db_.get(), R"sql(
SELECT t.id, t.experiment_id, e.name, t.status, t.params, t.param_hash, t.world_size, t.device, t.host, t.pid,
       t.started_at, t.ended_at, t.heartbeat_at, t.best_metric, t.best_goal, t.best_value, t.best_epoch,
       t.checkpoint_path, t.error, t.attempts, t.config_text
FROM trials t JOIN experiments e ON e.id = t.experiment_id WHERE 1)sql" +
                                          where.sql + " ORDER BY t.id");
  detail::bind_values(select, where.bindings);
  std::vector<TrialRecord> list;
  while (select.step()) {
    TrialRecord r;
    r.id = select.column_int(0);
    r.experiment_id = select.column_int(1);
    r.experiment = select.column_text(2);
    r.status = parse_status(select.column_text(3));
    r.params = params_from_json(nlohmann::json::parse(select.column_text(4)), fmt::format("{}: trial {}", path_, r.id));
    r.param_hash = select.column_text(5);
    r.world_size = select.column_int(6);
    r.device = select.column_text(7);
    r.host = select.column_text(8);
    r.pid = select.column_int(9);
    r.started_at = select.column_double(10);
    r.ended_at = select.column_optional_double(11);
    r.heartbeat_at = select.column_double(12);
    r.best = read_best(select, 13);
    r.checkpoint_path = select.column_optional_text(17);
    r.error = select.column_optional_text(18);
    r.attempts = select.column_int(19);
    if (query.with_config) r.config_text = select.column_text(20);
    apply_presumed_dead(r);
    if (detail::status_matches(r.status, where.status_filters)) list.push_back(std::move(r));
  }
  sqlite::Statement finals(db_.get(), "SELECT name, epoch, value FROM final_metrics WHERE trial_id = ?");
  for (auto& r : list) {
    finals.bind(1, r.id);
    while (finals.step()) {
      r.final_metrics[finals.column_text(0)] = value_or_nan(finals, 2);
      r.epochs = std::max(r.epochs, finals.column_int(1) + 1);
    }
    finals.reset();
  }
  snapshot.commit();
  return list;
}

TrialRecord Store::trial(int64_t trial_id) {
  TrialQuery query;
  query.ids = {trial_id};
  query.with_config = true;
  auto list = trials(query);
  if (list.empty()) fail<StoreError>("{}: no trial {}", path_, trial_id);
  return std::move(list.front());
}

std::vector<MetricSeries> Store::metric_series(std::span<const int64_t> trial_ids, std::span<const std::string> names,
                                               bool with_steps) {
  sqlite::Transaction snapshot(db_.get(), sqlite::Transaction::Kind::deferred);
  const std::string filter = with_steps ? "" : " AND step IS NULL";
  sqlite::Statement all(db_.get(), "SELECT name, epoch, step, value, wall_time FROM metrics WHERE trial_id = ?" +
                                       filter + " ORDER BY name, epoch, step");
  sqlite::Statement one(db_.get(),
                        "SELECT name, epoch, step, value, wall_time FROM metrics WHERE trial_id = ? "
                        "AND name = ?" +
                            filter + " ORDER BY epoch, step");
  std::vector<MetricSeries> list;
  auto read = [&](sqlite::Statement& statement, int64_t trial_id) {
    while (statement.step()) {
      const std::string name = statement.column_text(0);
      if (list.empty() || list.back().trial_id != trial_id || list.back().name != name)
        list.push_back({trial_id, name, {}});
      list.back().points.push_back({statement.column_int(1), statement.column_optional_int(2),
                                    value_or_nan(statement, 3), statement.column_double(4)});
    }
    statement.reset();
  };
  for (int64_t trial_id : trial_ids) {
    if (names.empty()) {
      all.bind(1, trial_id);
      read(all, trial_id);
    }
    for (const auto& name : names) {
      one.bind_all(trial_id, name);
      read(one, trial_id);
    }
  }
  snapshot.commit();
  return list;
}

std::vector<EpochValue> Store::metric_at_epoch(int64_t experiment_id, std::string_view metric, int64_t epoch) {
  reap_dead_trials();
  sqlite::Statement select(db_.get(), R"sql(
SELECT m.trial_id, t.status, m.value FROM trials t JOIN metrics m ON m.trial_id = t.id
WHERE t.experiment_id = ? AND m.name = ? AND m.epoch = ? AND m.step IS NULL ORDER BY m.trial_id)sql");
  select.bind_all(experiment_id, metric, epoch);
  std::vector<EpochValue> list;
  while (select.step()) {
    TrialRecord status_only;
    status_only.id = select.column_int(0);
    status_only.status = parse_status(select.column_text(1));
    apply_presumed_dead(status_only);
    list.push_back({status_only.id, status_only.status, value_or_nan(select, 2)});
  }
  return list;
}

std::vector<DecisionRecord> Store::decisions(const DecisionQuery& query) {
  std::string sql = R"sql(
SELECT d.id, d.trial_id, e.name, d.created_at, d.epoch, d.kind, d.checker, d.monitor, d.value, d.best, d.wait,
       d.patience, d.reason
FROM decisions d JOIN trials t ON t.id = d.trial_id JOIN experiments e ON e.id = t.experiment_id WHERE 1)sql";
  std::vector<detail::Binding> bindings;
  if (query.experiment) {
    sql += " AND e.name = ?";
    bindings.emplace_back(*query.experiment);
  }
  if (query.trial_id) {
    sql += " AND d.trial_id = ?";
    bindings.emplace_back(*query.trial_id);
  }
  if (!query.include_keep) sql += " AND d.kind != 'keep'";
  sql += " ORDER BY d.trial_id, d.epoch, d.id";
  sqlite::Statement select(db_.get(), sql);
  detail::bind_values(select, bindings);
  std::vector<DecisionRecord> list;
  while (select.step()) {
    DecisionRecord r;
    r.id = select.column_int(0);
    r.trial_id = select.column_int(1);
    r.experiment = select.column_text(2);
    r.created_at = select.column_double(3);
    Decision& d = r.decision;
    d.epoch = select.column_int(4);
    d.kind = parse_decision_kind(select.column_text(5));
    d.checker = select.column_text(6);
    d.monitor = select.column_text(7);
    d.value = select.column_optional_double(8);
    d.best = select.column_optional_double(9);
    d.wait = select.column_int(10);
    d.patience = select.column_int(11);
    d.reason = select.column_text(12);
    list.push_back(std::move(r));
  }
  return list;
}

std::vector<Evaluation> Store::evaluations(int64_t trial_id) {
  sqlite::Transaction snapshot(db_.get(), sqlite::Transaction::Kind::deferred);
  sqlite::Statement select(db_.get(), R"sql(
SELECT id, split, accuracy, loss, macro_precision, macro_recall, macro_f1, weighted_precision, weighted_recall,
       weighted_f1, confusion FROM evaluations WHERE trial_id = ? ORDER BY split)sql");
  sqlite::Statement classes(db_.get(), R"sql(
SELECT name, precision, recall, f1, support FROM evaluation_classes WHERE evaluation_id = ? ORDER BY class_index)sql");
  select.bind(1, trial_id);
  std::vector<Evaluation> list;
  while (select.step()) {
    Evaluation e;
    e.split = select.column_text(1);
    e.accuracy = value_or_nan(select, 2);
    e.loss = select.column_optional_double(3);
    e.macro = {value_or_nan(select, 4), value_or_nan(select, 5), value_or_nan(select, 6)};
    e.weighted = {value_or_nan(select, 7), value_or_nan(select, 8), value_or_nan(select, 9)};
    e.confusion = nlohmann::json::parse(select.column_text(10)).get<std::vector<std::vector<int64_t>>>();
    classes.bind(1, select.column_int(0));
    while (classes.step())
      e.classes.push_back({classes.column_text(0), value_or_nan(classes, 1), value_or_nan(classes, 2),
                           value_or_nan(classes, 3), classes.column_int(4)});
    classes.reset();
    list.push_back(std::move(e));
  }
  snapshot.commit();
  return list;
}

std::vector<std::string> Store::param_names(std::optional<std::string_view> experiment) {
  sqlite::Statement select(db_.get(), experiment ? R"sql(
SELECT DISTINCT p.name FROM params p JOIN trials t ON t.id = p.trial_id JOIN experiments e ON e.id = t.experiment_id
WHERE e.name = ? ORDER BY p.name)sql"
                                                 : "SELECT DISTINCT name FROM params ORDER BY name");
  if (experiment) select.bind(1, *experiment);
  std::vector<std::string> names;
  while (select.step()) names.push_back(select.column_text(0));
  return names;
}

std::vector<std::string> Store::metric_names(std::optional<std::string_view> experiment) {
  sqlite::Statement select(db_.get(), experiment ? R"sql(
SELECT DISTINCT f.name FROM final_metrics f JOIN trials t ON t.id = f.trial_id
JOIN experiments e ON e.id = t.experiment_id WHERE e.name = ? ORDER BY f.name)sql"
                                                 : "SELECT DISTINCT name FROM final_metrics ORDER BY name");
  if (experiment) select.bind(1, *experiment);
  std::vector<std::string> names;
  while (select.step()) names.push_back(select.column_text(0));
  return names;
}

}  // namespace stride::tracker
