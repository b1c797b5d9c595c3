// best:EXPERIMENT / latest:EXPERIMENT: the leaderboard's order, finished trials only.
#include "stride/tracker/pick.h"

#include <algorithm>

#include "stride/common/error.h"
#include "stride/tracker/report.h"

namespace stride::tracker {

namespace {

bool finished_with_checkpoint(const TrialRecord& t) { return is_finished(t.status) && t.checkpoint_path; }

}  // namespace

std::optional<TrialRecord> pick_trial(Store& store, std::string_view experiment, Pick pick) {
  if (!store.find_experiment(experiment)) fail<StoreError>("{}: no experiment '{}'", store.path(), experiment);
  report::TrialsOptions options;
  options.experiment = std::string(experiment);
  options.sort = pick == Pick::best ? "best" : "id";
  std::vector<TrialRecord> trials = report::leaderboard(store, options).trials;
  std::erase_if(trials,
                [&](const TrialRecord& t) { return !finished_with_checkpoint(t) || (pick == Pick::best && !t.best); });
  if (trials.empty()) return std::nullopt;
  if (pick == Pick::best) return trials.front();
  return *std::max_element(trials.begin(), trials.end(), [](const TrialRecord& a, const TrialRecord& b) {
    return a.ended_at.value_or(0) != b.ended_at.value_or(0) ? a.ended_at.value_or(0) < b.ended_at.value_or(0)
                                                            : a.id < b.id;
  });
}

namespace {

// The kind and experiment of a best:/latest: reference; nullopt for a plain path.
std::optional<std::pair<Pick, std::string>> parse_reference(const std::string& reference) {
  const auto colon = reference.find(':');
  if (colon == std::string::npos || std::filesystem::exists(reference)) return std::nullopt;
  const std::string kind = reference.substr(0, colon), experiment = reference.substr(colon + 1);
  if (kind != "best" && kind != "latest") return std::nullopt;
  if (experiment.empty()) fail<StoreError>("{}: name the experiment ({}:EXPERIMENT)", reference, kind);
  return std::pair{kind == "best" ? Pick::best : Pick::latest, experiment};
}

std::string resolve(const std::string& reference, Pick pick, const std::string& experiment, Store& store) {
  const auto trial = pick_trial(store, experiment, pick);
  if (!trial)
    fail<StoreError>("{}: experiment '{}' in {} has no finished trial with a checkpoint{}", reference, experiment,
                     store.path(), pick == Pick::best ? " and a best metric" : "");
  return *trial->checkpoint_path;
}

}  // namespace

std::string resolve_checkpoint(const std::string& reference, const std::filesystem::path& db) {
  const auto parsed = parse_reference(reference);
  if (!parsed) return reference;
  Store store = Store::open(db, Access::read_only);
  return resolve(reference, parsed->first, parsed->second, store);
}

std::string resolve_checkpoint(const std::string& reference, Store& store) {
  const auto parsed = parse_reference(reference);
  if (!parsed) return reference;
  return resolve(reference, parsed->first, parsed->second, store);
}

}  // namespace stride::tracker
