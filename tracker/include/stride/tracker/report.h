// What `stride report` prints, rendered from a Store: tables (text for people,
// CSV, JSON for scripts) and one self-contained HTML page with inline SVG.
// Renderers return the text; the command prints it or writes it to a file.
// Every name or value that reaches HTML goes through html_escape; nothing read
// from the store is ever markup.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "stride/common/table.h"
#include "stride/tracker/store.h"

namespace stride::tracker::report {

// How text output may decorate itself: on a terminal, curves become unicode
// sparklines and differing values in `compare` are bold as well as marked '*'.
struct Style {
  bool terminal = false;
  bool wide = false;  // text: long values whole instead of shortened with '…'
};

// ---- the leaderboard model shared by `trials`, `compare` and the HTML page

struct TrialsOptions {
  std::optional<std::string> experiment;  // unset: every experiment
  // A final metric, a parameter, "best" or a trial column ("id", "epochs", ...).
  // Metrics and "best" sort best first (default_goal / the trial's goal),
  // finished trials (completed, stopped early) before running, pruned and
  // failed ones, whatever their values; parameters and columns ascending;
  // trials without the value go last.
  // Unset: "best" when the trials record a best metric, else "id".
  std::optional<std::string> sort;
  std::optional<size_t> top;       // keep the first K after sorting
  std::vector<std::string> where;  // "name op value" conditions, all must hold
  bool wide = false;               // text: long values whole instead of shortened with '…'
};

struct Leaderboard {
  std::vector<TrialRecord> trials;        // sorted, cut to top
  std::vector<std::string> swept_params;  // parameters whose values differ among the trials
  std::vector<std::string> metrics;       // final metrics present, well-known names first
  std::string sort;                       // what the trials are sorted by
};

Leaderboard leaderboard(Store& store, const TrialsOptions& options);

// ---- renderers, one per subcommand

std::string render_experiments(Store& store, TableFormat format);
std::string render_trials(Store& store, const TrialsOptions& options, TableFormat format);
std::string render_trial(Store& store, int64_t trial_id, TableFormat format, const Style& style = {});
std::string render_compare(Store& store, std::span<const int64_t> trial_ids, TableFormat format,
                           const Style& style = {});
std::string render_decisions(Store& store, const DecisionQuery& query, TableFormat format);
// One page: curves, parallel coordinates, the best trial's confusion matrix, the leaderboard.
std::string render_html(Store& store, std::string_view experiment);

// ---- pieces, public for tests and other reports

// The trial as `trials --format json` lists it: id, experiment, status,
// params{}, metrics{final metrics by name}, best{metric, value, epoch, goal}
// or null, epochs, device, world_size, host, started_at, ended_at, attempts,
// checkpoint, error. NaN becomes null.
nlohmann::json trial_json(const TrialRecord& trial);

// Values longer than this are shortened in text tables and HTML cells.
inline constexpr size_t kLongValue = 40;
// Text of at most `max` characters (UTF-8 code points): a longer one keeps its
// start and end around "…" ("conv(32,3,padding=same…flatten dense(10)").
std::string abbreviate(std::string_view text, size_t max = kLongValue);

// "&<>\"'" as entities: safe in element text and quoted attribute values.
std::string html_escape(std::string_view text);

// One unicode block character (▁..█) per value, scaled to the values' range; NaN is a space.
std::string sparkline(std::span<const double> values);

// Writes `text` to a temporary file beside `path`, then renames it over
// `path`: readers see the old file or the new one, never a part.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace stride::tracker::report
