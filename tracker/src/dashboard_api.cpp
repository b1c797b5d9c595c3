// The dashboard's JSON answers, built from an open store with the same
// queries `stride report` uses. NaN never reaches JSON: it becomes null.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/tracker/dashboard.h"
#include "stride/tracker/importance.h"
#include "stride/tracker/report.h"

namespace stride::tracker::dashboard {
namespace {

using nlohmann::json;

json number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }
json number(const std::optional<double>& value) { return value ? number(*value) : json(nullptr); }

json best_json(const std::optional<BestMetric>& best) {
  if (!best) return nullptr;
  return {{"metric", best->metric},
          {"value", number(best->value)},
          {"epoch", best->epoch},
          {"goal", std::string(goal_name(best->goal.value_or(default_goal(best->metric))))}};
}

json points_json(const std::vector<MetricPoint>& points) {
  json list = json::array();
  for (const auto& p : points)
    if (!p.step) list.push_back(json::array({p.epoch, number(p.value)}));
  return list;
}

// Whether a trial has a value for the leaderboard's sort key; one without it cannot be ranked.
bool has_sort_value(const TrialRecord& t, const report::Leaderboard& board) {
  if (board.sort == "best") return t.best && std::isfinite(t.best->value);
  if (std::find(board.metrics.begin(), board.metrics.end(), board.sort) != board.metrics.end()) {
    const auto it = t.final_metrics.find(board.sort);
    return it != t.final_metrics.end() && std::isfinite(it->second);
  }
  if (board.sort == "best_epoch" || board.sort == "best_value") return t.best.has_value();
  if (board.sort == "ended_at") return t.ended_at.has_value();
  if (std::find(board.swept_params.begin(), board.swept_params.end(), board.sort) != board.swept_params.end())
    return t.params.count(board.sort) > 0;
  return true;
}

// How the parallel-coordinates axis of a swept parameter is drawn: numbers on a
// linear axis, or a log axis when they are positive and span 50x or more (as
// `report html` does); anything else as categories.
json param_column(const std::string& name, const std::vector<TrialRecord>& trials) {
  std::vector<ParamValue> values;
  for (const auto& t : trials)
    if (auto it = t.params.find(name); it != t.params.end()) values.push_back(it->second);
  const bool numeric = std::all_of(values.begin(), values.end(), [](const auto& v) { return v.is_number(); });
  json column = {{"name", name}};
  if (numeric) {
    double low = INFINITY, high = -INFINITY;
    for (const auto& v : values) low = std::min(low, v.as_double()), high = std::max(high, v.as_double());
    column["kind"] = "number";
    column["scale"] = low > 0 && high / low >= 50 ? "log" : "linear";
    return column;
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  json texts = json::array();
  for (const auto& v : values) texts.push_back(v.to_string());
  column["kind"] = "text";
  column["scale"] = "category";
  column["values"] = std::move(texts);
  return column;
}

}  // namespace

json experiments_json(Store& store) {
  json list = json::array();
  for (const auto& e : store.experiments()) {
    json by_status = json::object();
    for (const auto& [status, count] : e.trials_by_status) by_status[std::string(status_name(status))] = count;
    list.push_back({{"id", e.id},
                    {"name", e.name},
                    {"trials", e.trials},
                    {"by_status", std::move(by_status)},
                    {"best", best_json(e.best)},
                    {"best_trial", e.best_trial ? json(*e.best_trial) : json(nullptr)},
                    {"created_at", e.created_at},
                    {"last_activity", number(e.last_activity)}});
  }
  return {{"experiments", std::move(list)}};
}

json trials_json(Store& store, const TrialsRequest& request) {
  report::TrialsOptions options;
  options.experiment = request.experiment;
  options.sort = request.sort;
  options.where = request.where;
  const report::Leaderboard board = report::leaderboard(store, options);

  // Finished trials in the leaderboard's order are ranked; then the running
  // ones (what a live view watches), then the rest in the leaderboard's order.
  std::vector<const TrialRecord*> ranked, running, rest;
  for (const auto& t : board.trials) {
    if (is_finished(t.status) && has_sort_value(t, board))
      ranked.push_back(&t);
    else if (t.status == TrialStatus::running)
      running.push_back(&t);
    else
      rest.push_back(&t);
  }
  json trials = json::array();
  for (const auto* group : {&ranked, &running, &rest})
    for (const auto* t : *group) {
      json j = report::trial_json(*t);
      j["rank"] = group == &ranked ? json(trials.size() + 1) : json(nullptr);
      trials.push_back(std::move(j));
    }
  json params = json::array();
  for (const auto& name : board.swept_params) params.push_back(param_column(name, board.trials));
  return {{"experiment", request.experiment ? json(*request.experiment) : json(nullptr)},
          {"sort", board.sort},
          {"trials", std::move(trials)},
          {"params", std::move(params)},
          {"metrics", board.metrics}};
}

json trial_detail_json(Store& store, int64_t trial_id) {
  const TrialRecord record = store.trial(trial_id);
  json trial = report::trial_json(record);
  trial["config"] = record.config_text;
  trial["heartbeat_at"] = record.heartbeat_at;

  const std::vector<int64_t> ids = {trial_id};
  json curves = json::object();
  for (const auto& s : store.metric_series(ids)) curves[s.name] = points_json(s.points);

  DecisionQuery query;
  query.trial_id = trial_id;
  json decisions = json::array();
  for (const auto& r : store.decisions(query)) {
    const Decision& d = r.decision;
    decisions.push_back({{"epoch", d.epoch},
                         {"kind", std::string(decision_kind_name(d.kind))},
                         {"checker", d.checker},
                         {"monitor", d.monitor},
                         {"value", number(d.value)},
                         {"best", number(d.best)},
                         {"wait", d.wait},
                         {"patience", d.patience},
                         {"patience_left", std::max<int64_t>(0, d.patience - d.wait)},
                         {"reason", d.reason},
                         {"created_at", r.created_at}});
  }

  json evaluations = json::array();
  for (const auto& e : store.evaluations(trial_id)) {
    json classes = json::array();
    for (const auto& c : e.classes)
      classes.push_back({{"name", c.name},
                         {"precision", number(c.precision)},
                         {"recall", number(c.recall)},
                         {"f1", number(c.f1)},
                         {"support", c.support}});
    auto averages = [&](const Averages& a) {
      return json{{"precision", number(a.precision)}, {"recall", number(a.recall)}, {"f1", number(a.f1)}};
    };
    evaluations.push_back({{"split", e.split},
                           {"accuracy", number(e.accuracy)},
                           {"loss", number(e.loss)},
                           {"classes", std::move(classes)},
                           {"macro", averages(e.macro)},
                           {"weighted", averages(e.weighted)},
                           {"confusion", e.confusion}});
  }
  return {{"trial", std::move(trial)},
          {"curves", std::move(curves)},
          {"decisions", std::move(decisions)},
          {"evaluations", std::move(evaluations)}};
}

json curves_json(Store& store, std::span<const int64_t> trial_ids, std::span<const std::string> metrics) {
  if (!trial_ids.empty()) {
    TrialQuery query;
    query.ids.assign(trial_ids.begin(), trial_ids.end());
    std::set<int64_t> found;
    for (const auto& t : store.trials(query)) found.insert(t.id);
    for (int64_t id : trial_ids)
      if (!found.count(id)) fail<StoreError>("{}: no trial {}", store.path(), id);
  }
  json series = json::array();
  for (const auto& s : store.metric_series(trial_ids, metrics))
    series.push_back({{"trial", s.trial_id}, {"metric", s.name}, {"points", points_json(s.points)}});
  return {{"series", std::move(series)}};
}

json importance_json(Store& store, const std::string& experiment, const std::optional<std::string>& metric) {
  TrialQuery query;
  query.experiment = experiment;
  const auto trials = store.trials(query);

  // The objective: the named final metric, or the best metric most finished trials record.
  std::string objective;
  bool use_best = !metric.has_value();
  if (metric) {
    const auto known = store.metric_names(experiment);
    if (std::find(known.begin(), known.end(), *metric) == known.end()) {
      const std::string suggestion = closest_match(*metric, known);
      fail<StoreError>("metric '{}': no trial of experiment '{}' records it{}", *metric, experiment,
                       suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?");
    }
    objective = *metric;
  } else {
    std::map<std::string, int> votes;
    for (const auto& t : trials)
      if (is_finished(t.status) && t.best) ++votes[t.best->metric];
    if (!votes.empty())
      objective = std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
                    return a.second < b.second;
                  })->first;
  }
  std::vector<ImportanceSample> samples;
  std::optional<Goal> goal;
  for (const auto& t : trials) {
    if (!is_finished(t.status)) continue;
    if (use_best) {
      if (!t.best || t.best->metric != objective) continue;
      goal = t.best->goal.value_or(default_goal(objective));
      samples.push_back({t.params, t.best->value});
    } else if (auto it = t.final_metrics.find(objective); it != t.final_metrics.end()) {
      samples.push_back({t.params, it->second});
    }
  }
  if (!use_best) goal = default_goal(objective);
  const Importance result = variance_importance(samples);

  json params = json::array();
  for (const auto& p : result.params)
    params.push_back({{"name", p.name},
                      {"importance", p.importance},
                      {"levels", p.levels},
                      {"binned", p.binned},
                      {"aliases", p.aliases}});
  std::string note = result.note;
  if (objective.empty()) note = "no finished trial records a best metric";
  return {{"experiment", experiment},
          {"objective", use_best ? (objective.empty() ? json(nullptr) : json("best " + objective)) : json(objective)},
          {"goal", goal ? json(std::string(goal_name(*goal))) : json(nullptr)},
          {"method", "variance decomposition over an additive surrogate (fANOVA main effects)"},
          {"trials", result.samples},
          {"variance", number(result.variance)},
          {"params", std::move(params)},
          {"unexplained", result.params.empty() ? json(nullptr) : json(result.unexplained)},
          {"note", note}};
}

}  // namespace stride::tracker::dashboard
