// The leaderboard every report view starts from (filter, sort, cut, swept
// parameters), the JSON form of a trial, and small shared pieces: escaping,
// sparklines, times and the atomic file write.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report_util.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/tracker/report.h"

namespace stride::tracker::report {
namespace detail {

std::string format_time(double unix_seconds) {
  if (unix_seconds <= 0) return "";
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  return fmt::format("{:.4g}", value);
}

Table::Cell param_cell(const ParamValue& value) {
  switch (value.type()) {
    case ParamType::integer:
      return value.as_int();
    case ParamType::real:
      return number_cell(value.as_double());
    case ParamType::boolean:
    case ParamType::text:
      return value.to_string();
  }
  return std::monostate{};
}

Table::Cell number_cell(double value) {
  if (std::isnan(value)) return std::monostate{};
  return value;
}

Table::Cell optional_cell(const std::optional<double>& value) {
  return value ? number_cell(*value) : Table::Cell{std::monostate{}};
}

bool abbreviate_cells(std::vector<Table::Cell>& cells) {
  bool any = false;
  for (Table::Cell& cell : cells)
    if (auto* text = std::get_if<std::string>(&cell)) {
      std::string shorter = abbreviate(*text);
      any = any || shorter != *text;
      *text = std::move(shorter);
    }
  return any;
}

void order_metrics(std::vector<std::string>& names) {
  static const std::vector<std::string> known = {"val_accuracy", "val_loss",      "train_accuracy",
                                                 "train_loss",   "test_accuracy", "test_loss",
                                                 "lr",           "images_per_s",  "data_wait_fraction"};
  auto rank = [](const std::string& name) {
    const auto it = std::find(known.begin(), known.end(), name);
    return static_cast<size_t>(it - known.begin());
  };
  std::stable_sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
    const size_t ra = rank(a), rb = rank(b);
    return ra != rb ? ra < rb : a < b;
  });
}

std::optional<CurveBest> curve_best(const std::string& metric, const std::vector<double>& values) {
  const Goal goal = default_goal(metric);
  std::optional<CurveBest> best;
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (std::isnan(v)) continue;
    if (!best || (goal == Goal::minimize ? v < best->value : v > best->value)) best = CurveBest{v, i};
  }
  return best;
}

}  // namespace detail

namespace {

// How one trial ranks under a sort key: a number, a parameter value, or missing.
struct SortKey {
  int tier = 0;  // sorting by a result: finished trials first, then running, pruned, failed
  bool missing = true;
  double number = 0;  // already negated for "larger is better"
  std::optional<ParamValue> param;
};

enum class KeyKind { best, metric, param, column };

// Where a trial's result may rank: only a finished run is comparable (Optuna
// ranks complete trials only); a pruned or failed one never comes first.
int result_tier(TrialStatus status) {
  switch (status) {
    case TrialStatus::completed:
    case TrialStatus::stopped_early:
      return 0;
    case TrialStatus::running:
      return 1;
    case TrialStatus::pruned:
      return 2;
    case TrialStatus::failed:
      return 3;
  }
  return 3;
}

std::optional<double> column_value(const TrialRecord& t, std::string_view column) {
  if (column == "id") return static_cast<double>(t.id);
  if (column == "epochs") return static_cast<double>(t.epochs);
  if (column == "attempts") return static_cast<double>(t.attempts);
  if (column == "world_size") return static_cast<double>(t.world_size);
  if (column == "started_at") return t.started_at;
  if (column == "ended_at") return t.ended_at;
  if (column == "best_epoch" && t.best) return static_cast<double>(t.best->epoch);
  if (column == "best_value" && t.best) return t.best->value;
  if (column == "pid") return static_cast<double>(t.pid);
  return std::nullopt;
}

constexpr std::string_view kSortColumns[] = {"id",       "epochs",     "attempts",   "world_size", "started_at",
                                             "ended_at", "best_epoch", "best_value", "pid"};

}  // namespace

Leaderboard leaderboard(Store& store, const TrialsOptions& options) {
  TrialQuery query;
  query.experiment = options.experiment;
  for (const auto& text : options.where) query.where.push_back(parse_condition(text));
  Leaderboard board;
  board.trials = store.trials(query);

  std::set<std::string> metric_set;
  std::map<std::string, std::vector<const ParamValue*>, std::less<>> values_by_param;
  for (const auto& t : board.trials) {
    for (const auto& [name, value] : t.final_metrics) metric_set.insert(name);
    for (const auto& [name, value] : t.params) values_by_param[name].push_back(&value);
  }
  board.metrics.assign(metric_set.begin(), metric_set.end());
  detail::order_metrics(board.metrics);
  for (const auto& [name, values] : values_by_param) {
    bool differs = values.size() != board.trials.size();
    for (const auto* v : values) differs = differs || !(*v == *values.front()) || v->type() != values.front()->type();
    if (differs) board.swept_params.push_back(name);
  }

  // Resolve the sort key.
  bool any_best =
      std::any_of(board.trials.begin(), board.trials.end(), [](const auto& t) { return t.best.has_value(); });
  board.sort = options.sort.value_or(any_best ? "best" : "id");
  KeyKind kind;
  if (board.sort == "best") {
    kind = KeyKind::best;
  } else if (metric_set.count(board.sort)) {
    kind = KeyKind::metric;
  } else if (values_by_param.count(board.sort)) {
    kind = KeyKind::param;
  } else if (std::find(std::begin(kSortColumns), std::end(kSortColumns), board.sort) != std::end(kSortColumns)) {
    kind = KeyKind::column;
  } else {
    std::vector<std::string> candidates(metric_set.begin(), metric_set.end());
    for (const auto& [name, values] : values_by_param) candidates.push_back(name);
    for (auto column : kSortColumns) candidates.emplace_back(column);
    candidates.emplace_back("best");
    const std::string suggestion = closest_match(board.sort, candidates);
    fail<StoreError>("--sort '{}': not a metric, parameter or trial column of the listed trials{}", board.sort,
                     suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?");
  }

  auto key_of = [&](const TrialRecord& t) {
    SortKey key;
    if (kind == KeyKind::best || kind == KeyKind::metric) key.tier = result_tier(t.status);
    std::optional<double> number;
    bool larger_is_better = false;
    switch (kind) {
      case KeyKind::best:
        if (t.best) {
          number = t.best->value;
          larger_is_better = t.best->goal.value_or(default_goal(t.best->metric)) == Goal::maximize;
        }
        break;
      case KeyKind::metric:
        if (auto it = t.final_metrics.find(board.sort); it != t.final_metrics.end()) number = it->second;
        larger_is_better = default_goal(board.sort) == Goal::maximize;
        break;
      case KeyKind::param:
        if (auto it = t.params.find(board.sort); it != t.params.end()) {
          key.param = it->second;
          key.missing = false;
        }
        return key;
      case KeyKind::column:
        number = column_value(t, board.sort);
        break;
    }
    if (number && !std::isnan(*number)) {
      key.missing = false;
      key.number = larger_is_better ? -*number : *number;
    }
    return key;
  };
  std::vector<std::pair<SortKey, size_t>> keys;
  for (size_t i = 0; i < board.trials.size(); ++i) keys.emplace_back(key_of(board.trials[i]), i);
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    if (a.first.tier != b.first.tier) return a.first.tier < b.first.tier;
    if (a.first.missing != b.first.missing) return !a.first.missing;
    if (a.first.missing) return false;
    if (a.first.param) return *a.first.param < *b.first.param;
    return a.first.number < b.first.number;
  });
  std::vector<TrialRecord> sorted;
  sorted.reserve(keys.size());
  for (const auto& [key, index] : keys) sorted.push_back(std::move(board.trials[index]));
  if (options.top && sorted.size() > *options.top) sorted.resize(*options.top);
  board.trials = std::move(sorted);
  return board;
}

nlohmann::json trial_json(const TrialRecord& t) {
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json j;
  j["id"] = t.id;
  j["experiment"] = t.experiment;
  j["status"] = std::string(status_name(t.status));
  j["params"] = params_to_json(t.params);
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, value] : t.final_metrics) metrics[name] = number(value);
  j["metrics"] = std::move(metrics);
  if (t.best) {
    j["best"] = {{"metric", t.best->metric},
                 {"value", number(t.best->value)},
                 {"epoch", t.best->epoch},
                 {"goal", std::string(goal_name(t.best->goal.value_or(default_goal(t.best->metric))))}};
  } else {
    j["best"] = nullptr;
  }
  j["epochs"] = t.epochs;
  j["device"] = t.device;
  j["world_size"] = t.world_size;
  j["host"] = t.host;
  j["pid"] = t.pid;
  j["started_at"] = t.started_at;
  j["ended_at"] = t.ended_at ? nlohmann::json(*t.ended_at) : nlohmann::json(nullptr);
  j["attempts"] = t.attempts;
  j["param_hash"] = t.param_hash;
  j["checkpoint"] = t.checkpoint_path ? nlohmann::json(*t.checkpoint_path) : nlohmann::json(nullptr);
  j["error"] = t.error ? nlohmann::json(*t.error) : nlohmann::json(nullptr);
  return j;
}

std::string abbreviate(std::string_view text, size_t max) {
  // Byte offsets of the code points, so a cut never splits one.
  std::vector<size_t> starts;
  for (size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  if (starts.size() <= max || max < 3) return std::string(text);
  const size_t keep = max - 1, head = (keep + 1) / 2, tail = keep - head;
  return std::string(text.substr(0, starts[head])) + "…" + std::string(text.substr(starts[starts.size() - tail]));
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string sparkline(std::span<const double> values) {
  static constexpr const char* kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  double low = INFINITY, high = -INFINITY;
  for (double v : values)
    if (!std::isnan(v)) low = std::min(low, v), high = std::max(high, v);
  std::string out;
  for (double v : values) {
    if (std::isnan(v)) {
      out += ' ';
      continue;
    }
    const double fraction = high > low ? (v - low) / (high - low) : 0.5;
    out += kBlocks[std::clamp(static_cast<int>(std::lround(fraction * 7)), 0, 7)];
  }
  return out;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  namespace fs = std::filesystem;
  const fs::path target = path.has_filename() ? path : fs::path();
  if (target.empty()) fail<Error>("{}: not a file name", path.string());
  if (target.has_parent_path()) {
    std::error_code error;
    fs::create_directories(target.parent_path(), error);
    if (error) fail<Error>("{}: cannot create directory: {}", target.parent_path().string(), error.message());
  }
  const fs::path temporary = fs::path(target.string() + fmt::format(".tmp-{}", ::getpid()));
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!file) fail<Error>("{}: cannot write", temporary.string());
    file.write(text.data(), static_cast<std::streamsize>(text.size()));
    file.flush();
    if (!file) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      fail<Error>("{}: write failed", temporary.string());
    }
  }
  std::error_code error;
  fs::rename(temporary, target, error);
  if (error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    fail<Error>("{}: cannot replace: {}", target.string(), error.message());
  }
}

}  // namespace stride::tracker::report
