// The trainer's end-of-epoch bookkeeping: divergence (NaN loss), early stopping and plateau
// decisions turned into store rows, the learning-rate factor plateau
// reductions leave behind, the trial's best metric, and a copy of the best
// weights for restore_best (allocated once, copied on device).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.h"
#include "stride/core/callbacks.h"
#include "stride/core/model.h"
#include "stride/tracker/records.h"

namespace stride::tools {

struct EpochMetrics {
  int64_t epoch = 0;
  std::map<std::string, double> values;  // DESIGN.md §5 names
};

struct EpochDecisions {
  bool stop = false;
  // The training loss is NaN or infinite (Keras' TerminateOnNaN): the trial
  // stops and is marked failed, as Optuna marks a trial whose objective is NaN.
  bool diverged = false;
  std::vector<tracker::Decision> rows;
};

// "epoch 3 loss 0.31 acc 0.88 val_loss ... " for the log.
std::string describe_epoch(const EpochMetrics& metrics);

class Callbacks {
 public:
  Callbacks(const Config& config, Model& model);

  // Leader only: decides, updates the lr factor and the best weights. A
  // non-finite train_loss ends the trial first (one terminate_on_nan row,
  // kind early_stop); the other checks do not run on a diverged epoch.
  EpochDecisions end_of_epoch(int64_t epoch, const EpochMetrics& metrics, double lr, Model& model);

  double lr_factor() const { return lr_factor_; }
  void set_lr_factor(double factor) { lr_factor_ = factor; }
  const std::optional<tracker::BestMetric>& best() const { return best_; }
  int64_t best_epoch() const { return best_ ? best_->epoch : 0; }

  // Copies the kept best weights into the model when restore_best is on and a best exists.
  bool restore_best(Model& model);
  // The kept best weights (named as model.state()), for the checkpoint; null when not kept.
  std::vector<StateEntry>* best_weights();
  // The tensors best weights are kept in (to load them on resume); null when restore_best is off.
  std::vector<StateEntry>* best_weight_slots();

  nlohmann::json state() const;
  // After restore, best_weights() is non-null if the saved run had kept some:
  // the caller loads them into best_weight_slots().
  void restore(const nlohmann::json& state);

 private:
  std::optional<EarlyStopping> early_stopping_;
  std::optional<ReduceLrOnPlateau> reduce_lr_;
  double lr_factor_ = 1.0;
  std::string best_metric_;
  MonitorMode best_mode_;
  std::optional<tracker::BestMetric> best_;
  std::vector<Tensor> best_tensors_;
  std::vector<StateEntry> best_entries_;
  bool best_weights_taken_ = false;
};

}  // namespace stride::tools
