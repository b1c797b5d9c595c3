// `stride report best|latest`: "the best (or latest) checkpoint of experiment
// X" for scripts and fine-tuning, without knowing trial ids.
#include <fmt/format.h>

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
  std::string value;
  if (field == "checkpoint") value = *t.checkpoint_path;
  else if (field == "id") value = std::to_string(t.id);
  else if (field == "experiment") value = t.experiment;
  else if (field == "status") value = std::string(tracker::status_name(t.status));
  else if (field == "metric") value = t.best ? t.best->metric : "";
  else if (field == "value") value = t.best ? fmt::format("{}", t.best->value) : "";
  else if (field == "epoch") value = t.best ? std::to_string(t.best->epoch) : "";
  else if (field == "params") value = tracker::params_to_json(t.params).dump();
  else fail<ConfigError>("report {}: --field '{}': expected one of {}", subcommand, field, kFields);
  return value + "\n";
}

}  // namespace stride::tools
