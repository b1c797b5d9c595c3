// `stride report best|latest`: "the best (or latest) checkpoint of experiment
// X" for scripts and fine-tuning, without knowing trial ids.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "report_subcommands.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/tracker/pick.h"
#include "stride/tracker/report.h"

namespace stride::tools {

namespace {
constexpr const char* kFields = "checkpoint, id, experiment, status, metric, value, epoch, params";
}

std::string report_pick(tracker::Store& store, const std::string& subcommand,
                        const std::optional<std::string>& experiment, const std::string& field, TableFormat format) {
  if (!experiment) fail<ConfigError>("report {}: give --experiment NAME", subcommand);
  const auto trial =
      tracker::pick_trial(store, *experiment, subcommand == "best" ? tracker::Pick::best : tracker::Pick::latest);
  if (!trial)
    fail<StoreError>("{}: experiment '{}' has no finished trial with a checkpoint{}", store.path(), *experiment,
                     subcommand == "best" ? " and a best metric" : "");
  if (format == TableFormat::json) return tracker::report::trial_json(*trial).dump(2) + "\n";
  const tracker::TrialRecord& t = *trial;
  const auto best = [&](auto part) { return t.best ? part(*t.best) : std::string(); };
  const std::map<std::string, std::function<std::string()>> fields = {
      {"checkpoint", [&] { return *t.checkpoint_path; }},
      {"id", [&] { return std::to_string(t.id); }},
      {"experiment", [&] { return t.experiment; }},
      {"status", [&] { return std::string(tracker::status_name(t.status)); }},
      {"metric", [&] { return best([](const tracker::BestMetric& b) { return b.metric; }); }},
      {"value", [&] { return best([](const tracker::BestMetric& b) { return fmt::format("{}", b.value); }); }},
      {"epoch", [&] { return best([](const tracker::BestMetric& b) { return std::to_string(b.epoch); }); }},
      {"params", [&] { return tracker::params_to_json(t.params).dump(); }},
  };
  const auto it = fields.find(field);
  if (it == fields.end()) fail<ConfigError>("report {}: --field '{}': expected one of {}", subcommand, field, kFields);
  const std::string value = it->second();
  return value + "\n";
}

}  // namespace stride::tools
