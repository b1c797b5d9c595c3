// One trial, start to finish: data, model, optimizer, the epoch loop with
// validation, early stopping and plateau decisions, checkpoints, the test
// evaluation, and every parameter, metric and decision written to the store.
// Under a multi-rank communicator every rank runs it; rank 0 alone writes the
// store, the checkpoints and the progress bar.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "config.h"
#include "stride/tracker/records.h"

namespace stride {
class Communicator;
}
namespace stride::tracker {
class Store;
}

namespace stride::tools {

// A grid's pruner, asked at the end of every epoch (rank 0): returns a
// decision to log; kind prune stops the trial.
using PruneCheck = std::function<tracker::Decision(int64_t trial_id, int64_t epoch, double value)>;

struct TrainRequest {
  Config config;
  std::string db_path = "runs/stride.db";
  // An open store to write the trial to (the grid's one connection); null:
  // the trial opens db_path itself.
  tracker::Store* store = nullptr;
  bool resume = false;
  bool progress_on_terminal = true;
  Communicator* communicator = nullptr;  // null: one local rank
  std::optional<int64_t> trial_id;       // a trial already claimed (grid)
  PruneCheck prune;                      // grid only
  std::string prune_metric;              // metric the pruner watches
  bool validate_only = false;  // build data, model, optimizer and callbacks from the config; train and write nothing
};

struct TrainResult {
  int64_t trial_id = 0;
  tracker::TrialStatus status = tracker::TrialStatus::completed;
  int64_t epochs = 0;  // epochs completed
  std::map<std::string, double> final_metrics;
  std::optional<tracker::BestMetric> best;
  std::string checkpoint;
  std::optional<std::string> error;  // why a failed trial failed (a diverged loss)
  double seconds = 0;
};

TrainResult train(const TrainRequest& request);

}  // namespace stride::tools
