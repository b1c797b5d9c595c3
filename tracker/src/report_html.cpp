// `stride report html`: one page per experiment, with no scripts and no
// external resources. Curves of every trial, a parallel-coordinates plot of the
// swept hyperparameters against the result, the best trial's confusion matrix
// and the leaderboard. Trials are coloured by leaderboard rank (best: yellow).
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "report_svg.h"
#include "report_util.h"
#include "stride/tracker/report.h"

namespace stride::tracker::report {
namespace {

constexpr const char* kCurveMetrics[] = {"val_accuracy", "val_loss", "train_loss"};

constexpr const char* kStyle = R"css(
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.summary { color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { border: 1px solid #ddd; }
svg text { font-family: system-ui, sans-serif; }
svg .title { font-size: 14px; font-weight: 600; } svg .label { font-size: 12px; fill: #333; }
svg .tick { font-size: 10px; fill: #555; } svg .note { font-size: 12px; fill: #888; }
svg .cell { font-size: 11px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; } td.text { text-align: left; }
tr.best td { background: #fff8d0; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
)css";

std::string cell_html(const Table::Cell& cell) {
  if (std::holds_alternative<std::monostate>(cell)) return "<td></td>";
  if (const auto* s = std::get_if<std::string>(&cell)) {
    // A long value (a layer spec) shortened, whole in the tooltip: one column must not take the page.
    const std::string shown = abbreviate(*s);
    if (shown == *s) return fmt::format(R"(<td class="text">{}</td>)", html_escape(*s));
    return fmt::format(R"(<td class="text" title="{}">{}</td>)", html_escape(*s), html_escape(shown));
  }
  if (const auto* i = std::get_if<int64_t>(&cell)) return fmt::format("<td>{}</td>", *i);
  return fmt::format("<td>{}</td>", html_escape(detail::format_number(std::get<double>(cell))));
}

// Rank colours: first (best) is yellow, last is dark purple.
std::string rank_colour(size_t rank, size_t count) {
  return svg::ramp_colour(count <= 1 ? 1.0 : 1.0 - double(rank) / double(count - 1));
}

std::string leaderboard_html(const Leaderboard& board) {
  std::string out = "<table><tr><th></th><th>id</th><th>status</th>";
  for (const auto& p : board.swept_params) out += fmt::format("<th>{}</th>", html_escape(p));
  out += "<th>epochs</th><th>best</th><th>best epoch</th>";
  for (const auto& m : board.metrics) out += fmt::format("<th>{}</th>", html_escape(m));
  out += "</tr>\n";
  for (size_t r = 0; r < board.trials.size(); ++r) {
    const auto& t = board.trials[r];
    out += fmt::format(R"(<tr{}><td><span class="swatch" style="background:{}"></span>{}</td><td>{}</td>)",
                       r == 0 ? R"( class="best")" : "", rank_colour(r, board.trials.size()), r + 1, t.id);
    out += cell_html(std::string(status_name(t.status)));
    for (const auto& p : board.swept_params) {
      const auto it = t.params.find(p);
      out += it == t.params.end() ? "<td></td>" : cell_html(detail::param_cell(it->second));
    }
    out += cell_html(t.epochs);
    out += t.best ? cell_html(fmt::format("{} {}", t.best->metric, detail::format_number(t.best->value))) : "<td></td>";
    out += t.best ? cell_html(t.best->epoch) : "<td></td>";
    for (const auto& m : board.metrics) {
      const auto it = t.final_metrics.find(m);
      out += it == t.final_metrics.end() ? "<td></td>" : cell_html(detail::number_cell(it->second));
    }
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

// The result axis: the leaderboard's sort key when it is a metric or "best", else the first metric.
struct Result {
  std::string name;
  std::vector<double> values;  // per leaderboard trial
};

Result result_of(const Leaderboard& board) {
  Result result;
  const bool by_best = board.sort == "best";
  result.name = by_best ? "best" : board.sort;
  if (!by_best && std::find(board.metrics.begin(), board.metrics.end(), board.sort) == board.metrics.end())
    result.name = board.metrics.empty() ? "" : board.metrics.front();
  if (by_best && !board.trials.empty() && board.trials.front().best)
    result.name = "best " + board.trials.front().best->metric;
  for (const auto& t : board.trials) {
    double v = NAN;
    if (by_best) {
      if (t.best) v = t.best->value;
    } else if (auto it = t.final_metrics.find(result.name); it != t.final_metrics.end()) {
      v = it->second;
    }
    result.values.push_back(v);
  }
  return result;
}

std::string parallel_html(const Leaderboard& board) {
  std::vector<svg::Axis> axes;
  std::vector<svg::Polyline> lines(board.trials.size());
  for (size_t r = 0; r < board.trials.size(); ++r) {
    lines[r].label = fmt::format("trial {} (rank {})", board.trials[r].id, r + 1);
    lines[r].colour = rank_colour(r, board.trials.size());
    lines[r].width = r == 0 ? 3 : 1.2;
  }
  for (const auto& name : board.swept_params) {
    svg::Axis axis;
    axis.name = name;
    std::vector<ParamValue> values;
    for (const auto& t : board.trials)
      if (auto it = t.params.find(name); it != t.params.end()) values.push_back(it->second);
    axis.categorical = std::any_of(values.begin(), values.end(), [](const auto& v) { return !v.is_number(); });
    if (axis.categorical) {
      std::vector<ParamValue> distinct = values;
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      for (const auto& v : distinct) axis.categories.push_back(v.to_string());
      for (size_t r = 0; r < board.trials.size(); ++r) {
        const auto it = board.trials[r].params.find(name);
        double position = NAN;
        if (it != board.trials[r].params.end()) {
          const size_t index =
              size_t(std::lower_bound(distinct.begin(), distinct.end(), it->second) - distinct.begin());
          position = distinct.size() == 1 ? 0.5 : double(index) / double(distinct.size() - 1);
        }
        lines[r].positions.push_back(position);
      }
    } else {
      axis.low = INFINITY, axis.high = -INFINITY;
      for (const auto& v : values)
        axis.low = std::min(axis.low, v.as_double()), axis.high = std::max(axis.high, v.as_double());
      axis.log_scale = axis.low > 0 && axis.high / axis.low >= 50;
      for (size_t r = 0; r < board.trials.size(); ++r) {
        const auto it = board.trials[r].params.find(name);
        lines[r].positions.push_back(
            it == board.trials[r].params.end() ? NAN : svg::axis_position(axis, it->second.as_double()));
      }
    }
    axes.push_back(std::move(axis));
  }
  const Result result = result_of(board);
  if (!result.name.empty()) {
    svg::Axis axis;
    axis.name = result.name;
    axis.low = INFINITY, axis.high = -INFINITY;
    for (double v : result.values)
      if (!std::isnan(v)) axis.low = std::min(axis.low, v), axis.high = std::max(axis.high, v);
    if (!(axis.low <= axis.high)) axis.low = 0, axis.high = 1;
    for (size_t r = 0; r < lines.size(); ++r) lines[r].positions.push_back(svg::axis_position(axis, result.values[r]));
    axes.push_back(std::move(axis));
  }
  // Draw the worst first so the best lies on top.
  std::reverse(lines.begin(), lines.end());
  return svg::parallel_coordinates("hyperparameters vs " + result.name, axes, lines,
                                   std::max(640, 160 * static_cast<int>(axes.size())));
}

}  // namespace

std::string render_html(Store& store, std::string_view experiment) {
  TrialsOptions options;
  options.experiment = std::string(experiment);
  const Leaderboard board = leaderboard(store, options);

  std::map<TrialStatus, int64_t> by_status;
  for (const auto& t : board.trials) ++by_status[t.status];
  std::string counts;
  for (const auto& [status, count] : by_status)
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", count, status_name(status));

  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  out += fmt::format("<title>{} - stride report</title>\n<style>{}</style></head><body>\n", html_escape(experiment),
                     kStyle);
  out += fmt::format("<h1>Experiment {}</h1>\n<p class=\"summary\">{} trials ({}); sorted by {}; generated {}</p>\n",
                     html_escape(experiment), board.trials.size(), html_escape(counts), html_escape(board.sort),
                     html_escape(detail::format_time(now_seconds())));

  // Curves: one chart per metric, every trial a line.
  std::vector<int64_t> ids;
  for (const auto& t : board.trials) ids.push_back(t.id);
  std::vector<std::string> names(std::begin(kCurveMetrics), std::end(kCurveMetrics));
  const auto series = store.metric_series(ids, names);
  std::map<int64_t, size_t> rank;
  for (size_t r = 0; r < board.trials.size(); ++r) rank[board.trials[r].id] = r;
  out += "<h2>Curves</h2>\n<div class=\"charts\">\n";
  for (const auto& name : names) {
    std::vector<svg::Line> lines;
    for (const auto& s : series) {
      if (s.name != name) continue;
      svg::Line line;
      const size_t r = rank.at(s.trial_id);
      line.label = fmt::format("trial {} (rank {})", s.trial_id, r + 1);
      line.colour = rank_colour(r, board.trials.size());
      line.width = r == 0 ? 3 : 1.5;
      for (const auto& p : s.points) line.points.emplace_back(double(p.epoch), p.value);
      lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) { return a.width < b.width; });
    out += svg::line_chart(name, "epoch", name, lines) + "\n";
  }
  out += "</div>\n";

  out += "<h2>Hyperparameters</h2>\n";
  if (board.swept_params.empty()) out += "<p class=\"summary\">No hyperparameter differs among the trials.</p>\n";
  out += parallel_html(board) + "\n";

  // The confusion matrix of the best-ranked trial that has an evaluation.
  out += "<h2>Confusion matrix</h2>\n";
  bool shown = false;
  for (size_t r = 0; r < board.trials.size() && !shown; ++r) {
    const auto evaluations = store.evaluations(board.trials[r].id);
    if (evaluations.empty()) continue;
    const auto chosen =
        std::find_if(evaluations.begin(), evaluations.end(), [](const auto& e) { return e.split == "test"; });
    const Evaluation& e = chosen == evaluations.end() ? evaluations.front() : *chosen;
    std::vector<std::string> classes;
    for (size_t i = 0; i < e.confusion.size(); ++i)
      classes.push_back(i < e.classes.size() ? e.classes[i].name : std::to_string(i));
    out += fmt::format("<p class=\"summary\">trial {} (rank {}), split {}, accuracy {}</p>\n", board.trials[r].id,
                       r + 1, html_escape(e.split), html_escape(detail::format_number(e.accuracy)));
    out +=
        svg::confusion_heatmap(fmt::format("trial {}: {}", board.trials[r].id, e.split), classes, e.confusion) + "\n";
    shown = true;
  }
  if (!shown) out += "<p class=\"summary\">No trial of this experiment has an evaluation.</p>\n";

  out += "<h2>Leaderboard</h2>\n" + leaderboard_html(board);
  out += "</body></html>\n";
  return out;
}

}  // namespace stride::tracker::report
