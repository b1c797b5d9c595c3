// Everything around the training loop that is not arithmetic: the ranks and
// their collectives, the backend, the store and the trial, checkpoints and
// resumption, fine-tuning initialisation. Rank 0 (the leader) alone writes;
// decisions it takes (stop, prune, learning-rate factor) are broadcast so
// every rank runs the same number of steps.
//
// Order of construction: the host communicator (ranks, metrics, decisions)
// comes with the request; the backend is built next, on the GPU the node-local
// rank picks; then the device communicator (NCCL for CUDA backends, the host
// one for the CPU) is made from both, so its collectives queue behind the
// backend's stream.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config.h"
#include "epoch_callbacks.h"
#include "evaluator.h"
#include "settings.h"
#include "stride/core/checkpoint.h"
#include "stride/core/optimizer.h"
#include "stride/core/schedule.h"
#include "stride/data/augment.h"
#include "stride/data/loader.h"
#include "stride/distributed/communicator.h"
#include "stride/distributed/grad_sync.h"
#include "stride/tracker/store.h"
#include "trainer.h"

namespace stride::tools {

struct Replica {
  int rank = 0, world = 1;
  int local_rank = 0, local_size = 1;
};

using EpochTotals = EvalTotals;

// The trial's parameters: every resolved key of the config, what the job size
// makes of them (global batch; the learning rate after linear scaling) and
// the code's version and commit.
tracker::Params trial_params(const Config& config, int world);
// What identifies the trial (its parameter hash): the config's identity
// parameters and the job-size ones.
tracker::Params trial_identity(const Config& config, int world);

class TrainContext {
 public:
  explicit TrainContext(const TrainRequest& request);
  ~TrainContext();  // marks an unfinished trial failed, with the recorded failure; never throws
  TrainContext(const TrainContext&) = delete;
  TrainContext& operator=(const TrainContext&) = delete;

  // The error that stopped the trial: the destructor records it as the trial's error.
  void record_failure(std::string message) { failure_ = std::move(message); }

  const Replica& replica() const { return replica_; }
  const RunSettings& settings() const { return settings_; }
  Backend& backend() { return *backend_; }
  int64_t trial_id() const { return trial_id_; }

  // Fine-tuning: weights from model.init_from, frozen layers from model.freeze.
  void initialise_weights(Model& model, const ModelConfig& model_config);
  // Starts (or, resuming, reopens) the trial and loads the checkpoint's state.
  TrainingState open_trial(Model& model, Optimizer& optimizer, Callbacks& callbacks);
  // Every rank starts from rank 0's parameters, buffers, optimizer state and
  // place in training; gradient buckets are built for the trainable set.
  void synchronise_start(Model& model, Optimizer& optimizer, TrainingState& state, Callbacks& callbacks);
  // After freezing or unfreezing: the gradient buckets follow the trainable set.
  void trainable_set_changed(Model& model);

  // What Context::batch_norm_sync should be: the communicator's sum with
  // train.sync_bn on several ranks, else null (each rank's own statistics).
  ReplicaSum* batch_norm_sync();

  int64_t sample_offset(const data::Batch& batch) const;
  // The gradient buckets of a multi-rank job (null on one rank).
  GradientSync* gradient_sync() { return sync_ ? &*sync_ : nullptr; }
  EpochTotals sum_totals(const EpochTotals& local);
  void sum_confusion(ConfusionMatrix& confusion);
  // Seconds the steps of this epoch waited for gradient all-reduce after backward; resets.
  double take_communication_wait();
  // End of an epoch's training: BN statistics averaged, replicas checked identical.
  void synchronise_replicas(Model& model);

  // Leader: logs metrics and decisions, asks the pruner, saves the checkpoint.
  // Then every rank learns the outcome (stop / prune / lr factor).
  void end_epoch(const EpochMetrics& metrics, EpochDecisions& decisions, const TrainingState& state, Model& model,
                 Optimizer& optimizer, Callbacks& callbacks, const ModelConfig& model_config);
  bool pruned() const { return pruned_; }

  void log_test(int64_t epoch, const EpochTotals& totals, const ClassificationReport& report);
  void finish(TrainResult& result, Model& model, Optimizer& optimizer, Callbacks& callbacks,
              const ModelConfig& model_config, const TrainingState& state);

 private:
  std::string checkpoint_path() const;
  void record_epoch(const EpochMetrics& metrics, EpochDecisions& decisions, const TrainingState& state, Model& model,
                    Optimizer& optimizer, Callbacks& callbacks, const ModelConfig& model_config);
  void save(Model& model, Optimizer& optimizer, Callbacks& callbacks, const ModelConfig& model_config,
            const TrainingState& state);

  const TrainRequest& request_;
  RunSettings settings_;
  std::unique_ptr<Communicator> own_communicator_;  // Local, when the request brings none
  Communicator* comm_ = nullptr;                    // host collectives
  Replica replica_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Communicator> own_device_communicator_;  // NCCL over comm_, on the backend's stream
  Communicator* device_comm_ = nullptr;                    // gradients and BN sums: backend memory
  std::optional<GradientSync> sync_;                       // after backend_: its buckets are the backend's memory
  std::optional<CommunicatorSum> batch_norm_sum_;
  double communication_wait_mark_ = 0;
  std::optional<tracker::Store> own_store_;  // opened from db_path when the request brings no store
  tracker::Store* store_ = nullptr;
  std::string failure_;  // what stopped the trial, for its error column
  int64_t experiment_id_ = 0;
  int64_t trial_id_ = 0;
  bool finished_ = false;
  bool pruned_ = false;
  std::map<std::string, double> last_metrics_;
  std::string init_from_path_;  // the checkpoint model.init_from resolved to
};

}  // namespace stride::tools
