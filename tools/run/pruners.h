// Pruning across the trials of a grid (DESIGN.md §7), as pure functions of
// the histories the store holds, so they can be tested on scripted ones:
// - median (Optuna's MedianPruner): no pruning before n_startup_trials trials
//   have completed nor before epoch n_warmup_epochs; then prune when the
//   trial's best value so far is worse than the median of the completed
//   trials' values at the same epoch.
// - asha (asynchronous successive halving): rungs after min_epochs *
//   reduction_factor^k epochs; at a rung a trial goes on only if it is in the
//   top 1/reduction_factor of every trial that has reached the rung (at least
//   the best one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stride/core/callbacks.h"
#include "stride/tracker/records.h"

namespace stride::tools {

struct PrunerConfig {
  std::string kind = "none";  // none | median | asha
  std::string metric = "val_accuracy";
  MonitorMode mode = MonitorMode::max;
  int64_t n_startup_trials = 5;
  int64_t n_warmup_epochs = 0;
  int64_t min_epochs = 1;
  int64_t reduction_factor = 3;
};

struct PeerValue {
  int64_t trial_id = 0;
  bool completed = false;  // finished its run (completed or stopped early)
  double value = 0;
};

// epoch: 0-based epoch just finished; history: this trial's values, epochs 0..epoch.
tracker::Decision median_prune(const PrunerConfig& config, int64_t epoch, const std::vector<double>& history,
                               const std::vector<PeerValue>& peers_at_epoch, int64_t completed_trials);

// peers_at_epoch includes every other trial with a value at this epoch, whatever its status.
tracker::Decision asha_prune(const PrunerConfig& config, int64_t epoch, double value,
                             const std::vector<PeerValue>& peers_at_epoch);

// A prune decision at a trial's last epoch saves nothing: the trial has run
// in full. It becomes a keep (with the pruner's numbers and why), so the trial
// completes and gets its test evaluation like any other.
tracker::Decision spare_last_epoch(tracker::Decision decision, int64_t epochs);

}  // namespace stride::tools
