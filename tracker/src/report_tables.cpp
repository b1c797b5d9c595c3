// The table views of `stride report`: experiments, the trials leaderboard, one
// trial in detail, trials side by side, and the decisions log. Each builds
// stride::Table rows (text / CSV) or JSON objects (richer than a flat table
// where a view has nested parts).
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report_util.h"
#include "stride/common/strings.h"
#include "stride/tracker/report.h"

namespace stride::tracker::report {
namespace {

using detail::format_number;
using detail::number_cell;
using detail::optional_cell;
using detail::param_cell;

std::string json_text(const nlohmann::json& json) { return json.dump(2) + "\n"; }

nlohmann::json json_number(double value) { return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value); }

nlohmann::json json_optional(const std::optional<double>& value) {
  return value ? json_number(*value) : nlohmann::json(nullptr);
}

nlohmann::json decision_json(const DecisionRecord& r) {
  const Decision& d = r.decision;
  return {{"id", r.id},
          {"trial", r.trial_id},
          {"experiment", r.experiment},
          {"epoch", d.epoch},
          {"kind", std::string(decision_kind_name(d.kind))},
          {"checker", d.checker},
          {"monitor", d.monitor},
          {"value", json_optional(d.value)},
          {"best", json_optional(d.best)},
          {"wait", d.wait},
          {"patience", d.patience},
          {"patience_left", std::max<int64_t>(0, d.patience - d.wait)},
          {"reason", d.reason},
          {"created_at", r.created_at}};
}

Table decisions_table(const std::vector<DecisionRecord>& decisions, bool with_experiment) {
  std::vector<std::string> columns = {"trial", "epoch", "checker", "kind",          "monitor",
                                      "value", "best",  "wait",    "patience_left", "reason"};
  if (with_experiment) columns.insert(columns.begin(), "experiment");
  Table table(columns);
  table.set_precision("value", 4);
  table.set_precision("best", 4);
  for (const auto& r : decisions) {
    const Decision& d = r.decision;
    std::vector<Table::Cell> row = {r.trial_id,
                                    d.epoch,
                                    d.checker,
                                    std::string(decision_kind_name(d.kind)),
                                    d.monitor,
                                    optional_cell(d.value),
                                    optional_cell(d.best),
                                    d.wait,
                                    std::max<int64_t>(0, d.patience - d.wait),
                                    d.reason};
    if (with_experiment) row.insert(row.begin(), r.experiment);
    table.add_row(std::move(row));
  }
  return table;
}

nlohmann::json evaluation_json(const Evaluation& e) {
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : e.classes)
    classes.push_back({{"name", c.name},
                       {"precision", json_number(c.precision)},
                       {"recall", json_number(c.recall)},
                       {"f1", json_number(c.f1)},
                       {"support", c.support}});
  auto averages = [&](const Averages& a) {
    return nlohmann::json{
        {"precision", json_number(a.precision)}, {"recall", json_number(a.recall)}, {"f1", json_number(a.f1)}};
  };
  return {{"split", e.split},        {"accuracy", json_number(e.accuracy)}, {"loss", json_optional(e.loss)},
          {"classes", classes},      {"macro", averages(e.macro)},          {"weighted", averages(e.weighted)},
          {"confusion", e.confusion}};
}

std::string section(std::string_view title) { return fmt::format("\n{}\n", title); }

// Name of class i for headers: the report's name when there is one.
std::string class_name(const Evaluation& e, size_t i) {
  return i < e.classes.size() && !e.classes[i].name.empty() ? e.classes[i].name : std::to_string(i);
}

std::string evaluation_text(const Evaluation& e) {
  std::string out = section(fmt::format("evaluation ({}): accuracy {}{}", e.split, format_number(e.accuracy),
                                        e.loss ? ", loss " + format_number(*e.loss) : ""));
  Table report({"class", "precision", "recall", "f1", "support"});
  for (const char* column : {"precision", "recall", "f1"}) report.set_precision(column, 4);
  for (const auto& c : e.classes)
    report.add_row({c.name, number_cell(c.precision), number_cell(c.recall), number_cell(c.f1), c.support});
  int64_t support = 0;
  for (const auto& c : e.classes) support += c.support;
  report.add_row({std::string("macro avg"), number_cell(e.macro.precision), number_cell(e.macro.recall),
                  number_cell(e.macro.f1), support});
  report.add_row({std::string("weighted avg"), number_cell(e.weighted.precision), number_cell(e.weighted.recall),
                  number_cell(e.weighted.f1), support});
  out += report.to_text();
  if (!e.confusion.empty()) {
    out += section("confusion matrix (rows: true class, columns: predicted class)");
    std::vector<std::string> columns = {"true \\ predicted"};
    for (size_t i = 0; i < e.confusion.size(); ++i) columns.push_back(class_name(e, i));
    Table confusion(columns);
    for (size_t i = 0; i < e.confusion.size(); ++i) {
      std::vector<Table::Cell> row = {class_name(e, i)};
      for (int64_t count : e.confusion[i]) row.emplace_back(count);
      confusion.add_row(std::move(row));
    }
    out += confusion.to_text();
  }
  return out;
}

// Every epoch-level curve of one trial: names in report order, values indexed by epoch (NaN where missing).
struct Curves {
  std::vector<std::string> names;
  std::map<std::string, std::vector<double>> values;
  int64_t epochs = 0;
};

Curves read_curves(Store& store, int64_t trial_id) {
  const std::vector<int64_t> ids = {trial_id};
  Curves curves;
  const auto series = store.metric_series(ids);
  for (const auto& s : series)
    for (const auto& p : s.points) curves.epochs = std::max(curves.epochs, p.epoch + 1);
  for (const auto& s : series) {
    curves.names.push_back(s.name);
    auto& values = curves.values[s.name];
    values.assign(static_cast<size_t>(curves.epochs), NAN);
    for (const auto& p : s.points)
      if (p.epoch >= 0) values[static_cast<size_t>(p.epoch)] = p.value;
  }
  detail::order_metrics(curves.names);
  return curves;
}

}  // namespace

std::string render_experiments(Store& store, TableFormat format) {
  const auto experiments = store.experiments();
  if (format == TableFormat::json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : experiments) {
      nlohmann::json by_status = nlohmann::json::object();
      for (const auto& [status, count] : e.trials_by_status) by_status[std::string(status_name(status))] = count;
      nlohmann::json best = nullptr;
      if (e.best)
        best = {{"metric", e.best->metric},
                {"value", json_number(e.best->value)},
                {"epoch", e.best->epoch},
                {"trial", e.best_trial.value_or(0)}};
      list.push_back({{"id", e.id},
                      {"name", e.name},
                      {"created_at", e.created_at},
                      {"trials", e.trials},
                      {"trials_by_status", by_status},
                      {"best", best},
                      {"last_activity", json_optional(e.last_activity)}});
    }
    return json_text(list);
  }
  std::vector<std::string> columns = {"experiment", "trials"};
  for (auto status : {TrialStatus::running, TrialStatus::completed, TrialStatus::stopped_early, TrialStatus::pruned,
                      TrialStatus::failed})
    columns.emplace_back(status_name(status));
  for (const char* c : {"best_metric", "best", "best_trial", "last_activity"}) columns.emplace_back(c);
  Table table(columns);
  table.set_precision("best", 4);
  for (const auto& e : experiments) {
    std::vector<Table::Cell> row = {e.name, e.trials};
    for (auto status : {TrialStatus::running, TrialStatus::completed, TrialStatus::stopped_early, TrialStatus::pruned,
                        TrialStatus::failed}) {
      const auto it = e.trials_by_status.find(status);
      row.emplace_back(it == e.trials_by_status.end() ? int64_t{0} : it->second);
    }
    row.emplace_back(e.best ? Table::Cell(e.best->metric) : Table::Cell());
    row.emplace_back(e.best ? number_cell(e.best->value) : Table::Cell());
    row.emplace_back(e.best_trial ? Table::Cell(*e.best_trial) : Table::Cell());
    row.emplace_back(detail::format_time(e.last_activity.value_or(0)));
    table.add_row(std::move(row));
  }
  return table.render(format);
}

std::string render_trials(Store& store, const TrialsOptions& options, TableFormat format) {
  const Leaderboard board = leaderboard(store, options);
  if (format == TableFormat::json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& t : board.trials) list.push_back(trial_json(t));
    return json_text(list);
  }
  std::set<std::string> experiments;
  for (const auto& t : board.trials) experiments.insert(t.experiment);
  const bool with_experiment = experiments.size() > 1;
  std::vector<std::string> columns = {"id"};
  if (with_experiment) columns.emplace_back("experiment");
  columns.emplace_back("status");
  columns.insert(columns.end(), board.swept_params.begin(), board.swept_params.end());
  for (const char* c : {"epochs", "best_metric", "best", "best_epoch"}) columns.emplace_back(c);
  columns.insert(columns.end(), board.metrics.begin(), board.metrics.end());
  Table table(columns);
  table.set_precision("best", 4);
  for (const auto& m : board.metrics) table.set_precision(m, 4);
  bool shortened = false;
  for (const auto& t : board.trials) {
    std::vector<Table::Cell> row = {t.id};
    if (with_experiment) row.emplace_back(t.experiment);
    row.emplace_back(std::string(status_name(t.status)));
    for (const auto& p : board.swept_params) {
      const auto it = t.params.find(p);
      row.push_back(it == t.params.end() ? Table::Cell() : param_cell(it->second));
    }
    row.emplace_back(t.epochs);
    row.emplace_back(t.best ? Table::Cell(t.best->metric) : Table::Cell());
    row.emplace_back(t.best ? number_cell(t.best->value) : Table::Cell());
    row.emplace_back(t.best ? Table::Cell(t.best->epoch) : Table::Cell());
    for (const auto& m : board.metrics) {
      const auto it = t.final_metrics.find(m);
      row.push_back(it == t.final_metrics.end() ? Table::Cell() : number_cell(it->second));
    }
    if (format == TableFormat::text && !options.wide) shortened = detail::abbreviate_cells(row) || shortened;
    table.add_row(std::move(row));
  }
  return table.render(format) + (shortened ? detail::kShortenedNote : "");
}

std::string render_trial(Store& store, int64_t trial_id, TableFormat format, const Style& style) {
  const TrialRecord t = store.trial(trial_id);
  const Curves curves = read_curves(store, trial_id);
  DecisionQuery query;
  query.trial_id = trial_id;
  const auto decisions = store.decisions(query);
  const auto evaluations = store.evaluations(trial_id);

  if (format == TableFormat::csv) {
    // The per-epoch curves, one row per epoch: what a spreadsheet plots.
    std::vector<std::string> columns = {"epoch"};
    columns.insert(columns.end(), curves.names.begin(), curves.names.end());
    Table table(columns);
    for (int64_t epoch = 0; epoch < curves.epochs; ++epoch) {
      std::vector<Table::Cell> row = {epoch};
      for (const auto& name : curves.names) row.push_back(number_cell(curves.values.at(name)[size_t(epoch)]));
      table.add_row(std::move(row));
    }
    return table.to_csv();
  }
  if (format == TableFormat::json) {
    nlohmann::json j = trial_json(t);
    j["config"] = t.config_text;
    nlohmann::json curve_json = nlohmann::json::object(), best_json = nlohmann::json::object();
    for (const auto& name : curves.names) {
      const auto& values = curves.values.at(name);
      nlohmann::json points = nlohmann::json::array();
      for (size_t e = 0; e < values.size(); ++e)
        if (!std::isnan(values[e])) points.push_back({{"epoch", e}, {"value", values[e]}});
      curve_json[name] = std::move(points);
      if (auto best = detail::curve_best(name, values))
        best_json[name] = {{"value", best->value}, {"epoch", best->index}};
    }
    j["curves"] = std::move(curve_json);
    j["best_metrics"] = std::move(best_json);
    j["decisions"] = nlohmann::json::array();
    for (const auto& d : decisions) j["decisions"].push_back(decision_json(d));
    j["evaluations"] = nlohmann::json::array();
    for (const auto& e : evaluations) j["evaluations"].push_back(evaluation_json(e));
    return json_text(j);
  }

  // Free text from the store, shown with its control characters escaped as table cells are.
  std::string out =
      fmt::format("trial {} of experiment {}: {}\n", t.id, printable(t.experiment), status_name(t.status));
  out += fmt::format("device {} x{}, host {}, pid {}, attempts {}\n", printable(t.device), t.world_size,
                     printable(t.host), t.pid, t.attempts);
  out += fmt::format("started {}", detail::format_time(t.started_at));
  if (t.ended_at)
    out += fmt::format(", ended {} ({})", detail::format_time(*t.ended_at), human_duration(*t.ended_at - t.started_at));
  out += '\n';
  if (t.best)
    out += fmt::format("best {} = {} at epoch {}\n", t.best->metric, format_number(t.best->value), t.best->epoch);
  if (t.checkpoint_path) out += fmt::format("checkpoint {}\n", printable(*t.checkpoint_path));
  if (t.error) out += fmt::format("error: {}\n", printable(*t.error));

  out += section("parameters");
  Table params({"name", "value"});
  // Values as text, left-aligned: one long value (a layer spec) must not push the numbers far right.
  for (const auto& [name, value] : t.params) params.add_row({name, value.to_string()});
  out += params.to_text();

  if (!curves.names.empty()) {
    out += section(fmt::format("metrics ({} epochs)", curves.epochs));
    std::vector<std::string> columns = {"metric", "final", "best", "best_epoch", "first"};
    if (style.terminal) columns.emplace_back("curve");
    Table metrics(columns);
    for (const char* c : {"final", "best", "first"}) metrics.set_precision(c, 4);
    for (const auto& name : curves.names) {
      const auto& values = curves.values.at(name);
      const auto final_it = t.final_metrics.find(name);
      const auto best = detail::curve_best(name, values);
      const auto first = std::find_if(values.begin(), values.end(), [](double v) { return !std::isnan(v); });
      std::vector<Table::Cell> row = {
          name, final_it == t.final_metrics.end() ? Table::Cell() : number_cell(final_it->second),
          best ? Table::Cell(best->value) : Table::Cell(), best ? Table::Cell(int64_t(best->index)) : Table::Cell(),
          first == values.end() ? Table::Cell() : Table::Cell(*first)};
      if (style.terminal) row.emplace_back(sparkline(values));
      metrics.add_row(std::move(row));
    }
    out += metrics.to_text();
  }

  std::vector<DecisionRecord> changes;
  for (const auto& d : decisions)
    if (d.decision.kind != DecisionKind::keep) changes.push_back(d);
  const size_t kept = decisions.size() - changes.size();
  if (!decisions.empty()) {
    out += section(fmt::format("decisions ({} checks; {} 'keep' not shown: stride report decisions --trial {})",
                               decisions.size(), kept, t.id));
    if (!changes.empty()) out += decisions_table(changes, false).to_text();
    // The last check of each checker explains why the trial ended where it did.
    std::map<std::string, const DecisionRecord*> last;
    for (const auto& d : decisions) last[d.decision.checker] = &d;
    for (const auto& [checker, d] : last)
      if (d->decision.kind == DecisionKind::keep)
        out += fmt::format("last {} check, epoch {}: keep ({})\n", checker, d->decision.epoch, d->decision.reason);
  }
  for (const auto& e : evaluations) out += evaluation_text(e);
  return out;
}

std::string render_compare(Store& store, std::span<const int64_t> trial_ids, TableFormat format, const Style& style) {
  if (trial_ids.empty()) fail<StoreError>("compare: give at least one trial id");
  std::vector<TrialRecord> trials;
  for (int64_t id : trial_ids) trials.push_back(store.trial(id));
  // One row per field; a field differs when its cells are not all the same text.
  struct Row {
    std::string field;
    std::vector<Table::Cell> cells;
  };
  std::vector<Row> rows;
  auto add = [&](std::string field, auto&& cell_of) {
    Row row{std::move(field), {}};
    for (const auto& t : trials) row.cells.push_back(cell_of(t));
    rows.push_back(std::move(row));
  };
  add("experiment", [](const TrialRecord& t) { return Table::Cell(t.experiment); });
  add("status", [](const TrialRecord& t) { return Table::Cell(std::string(status_name(t.status))); });
  add("epochs", [](const TrialRecord& t) { return Table::Cell(t.epochs); });
  add("best", [](const TrialRecord& t) {
    return t.best ? Table::Cell(fmt::format("{} {} @{}", t.best->metric, format_number(t.best->value), t.best->epoch))
                  : Table::Cell();
  });
  add("device", [](const TrialRecord& t) { return Table::Cell(fmt::format("{} x{}", t.device, t.world_size)); });
  std::set<std::string> params, metrics_set;
  for (const auto& t : trials) {
    for (const auto& [name, value] : t.params) params.insert(name);
    for (const auto& [name, value] : t.final_metrics) metrics_set.insert(name);
  }
  for (const auto& p : params)
    add(p, [&](const TrialRecord& t) {
      const auto it = t.params.find(p);
      return it == t.params.end() ? Table::Cell() : param_cell(it->second);
    });
  std::vector<std::string> metrics(metrics_set.begin(), metrics_set.end());
  detail::order_metrics(metrics);
  for (const auto& m : metrics)
    add(m, [&](const TrialRecord& t) {
      const auto it = t.final_metrics.find(m);
      return it == t.final_metrics.end() ? Table::Cell() : number_cell(it->second);
    });

  std::vector<bool> differs;
  for (const auto& row : rows)
    differs.push_back(std::any_of(row.cells.begin(), row.cells.end(),
                                  [&](const Table::Cell& cell) { return cell != row.cells.front(); }));

  if (format == TableFormat::json) {
    nlohmann::json j = {{"trials", nlohmann::json::array()}, {"differs", nlohmann::json::array()}};
    for (const auto& t : trials) j["trials"].push_back(trial_json(t));
    for (size_t i = 0; i < rows.size(); ++i)
      if (differs[i]) j["differs"].push_back(rows[i].field);
    return json_text(j);
  }
  std::vector<std::string> columns = {"field"};
  if (format == TableFormat::csv) columns.emplace_back("differs");
  for (const auto& t : trials) columns.push_back(fmt::format("#{}", t.id));
  Table table(columns);
  bool shortened = false;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<Table::Cell> row;
    if (format == TableFormat::csv) {
      row = {rows[i].field, std::string(differs[i] ? "true" : "false")};
    } else {
      row = {(differs[i] ? "* " : "  ") + rows[i].field};
    }
    row.insert(row.end(), rows[i].cells.begin(), rows[i].cells.end());
    if (format == TableFormat::text && !style.wide) shortened = detail::abbreviate_cells(row) || shortened;
    table.add_row(std::move(row));
  }
  if (format == TableFormat::csv) return table.to_csv();
  std::string text = table.to_text();
  if (style.terminal) {
    // Bold the lines of differing fields; rows start after the header and rule lines.
    std::vector<std::string> lines = split(text, '\n');
    text.clear();
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].empty()) continue;
      const bool bold = i >= 2 && i - 2 < differs.size() && differs[i - 2];
      text += bold ? "\x1b[1m" + lines[i] + "\x1b[0m\n" : lines[i] + "\n";
    }
  }
  return text + "(* marks fields whose values differ)\n" + (shortened ? detail::kShortenedNote : "");
}

std::string render_decisions(Store& store, const DecisionQuery& query, TableFormat format) {
  if (query.experiment && !store.find_experiment(*query.experiment))
    fail<StoreError>("{}: no experiment '{}'", store.path(), *query.experiment);
  if (query.trial_id) store.trial(*query.trial_id);  // names a missing trial
  const auto decisions = store.decisions(query);
  if (format == TableFormat::json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& d : decisions) list.push_back(decision_json(d));
    return json_text(list);
  }
  return decisions_table(decisions, !query.experiment).render(format);
}

}  // namespace stride::tracker::report
