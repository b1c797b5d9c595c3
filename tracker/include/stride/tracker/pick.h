// Naming a trial by what it is rather than by its id: "the best (or the
// latest) finished trial of experiment X". Trial ids count across the whole
// store, so a path like runs/checkpoints/X/trial-1.h5 is wrong as soon as the
// store holds other trials; `best:X` and `latest:X` stay right.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "stride/tracker/store.h"

namespace stride::tracker {

enum class Pick { best, latest };

// Among the experiment's finished trials (completed or stopped early, as
// Optuna counts completed trials only) that have a checkpoint: best, the one
// whose recorded best metric is best by its own goal (ties: the earlier
// trial); latest, the one that ended last. nullopt when there is none.
std::optional<TrialRecord> pick_trial(Store& store, std::string_view experiment, Pick pick);

// "best:EXPERIMENT" or "latest:EXPERIMENT" -> that trial's checkpoint path,
// read from the store at `db` (opened read-only). Anything else, and a file
// that exists under that very name, is returned as it is. Throws StoreError
// naming the experiment and the store when no trial qualifies.
std::string resolve_checkpoint(const std::string& reference, const std::filesystem::path& db);
// The same, read from a store already open (a grid passes its own down).
std::string resolve_checkpoint(const std::string& reference, Store& store);

}  // namespace stride::tracker
