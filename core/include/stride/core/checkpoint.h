// Checkpoints and model files (HDF5, readable by h5py):
//   /                attrs format="stride-checkpoint", version, model_config (JSON),
//                    training_state (JSON, when saved by a trainer)
//   /model/LAYER/NAME      every parameter and buffer ("00_conv2d/kernel",
//                          "04_residual/conv1/kernel", "05_batch_norm/moving_mean")
//   /optimizer/LAYER/NAME/SLOT   optimizer moments, attrs kind and steps
//   /best/LAYER/NAME       the best weights so far (early stopping's restore_best)
// The first 512 bytes (an HDF5 userblock) hold a seal: the file's size and the
// SHA-256 of the rest, checked before HDF5 parses anything (docs/FAULTS.md).
// Written to a temporary file (PATH.tmp-HOST-PID) and renamed: a crash never
// leaves a half-written checkpoint under the real name, and the next save into
// the directory removes temporaries whose writer is gone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stride/common/rng.h"
#include "stride/core/model.h"
#include "stride/core/optimizer.h"

namespace stride {

// Everything needed to rebuild a model and feed it images as in training.
struct ModelConfig {
  std::string spec;  // canonical layer spec
  Shape input;       // (H, W, C)
  int64_t classes = 0;
  std::vector<std::string> class_names;
  bool normalize = true;          // inputs are (x/255 - mean) / std, else x/255
  std::vector<double> mean, std;  // per channel, in [0, 1] units
  std::string source;             // dataset the model was trained on

  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j, const std::string& where);
};

// Where training stands after a completed epoch, so --resume continues exactly.
struct TrainingState {
  int64_t epoch = 0;                                    // epochs completed
  int64_t global_step = 0;                              // optimizer steps taken
  nlohmann::json callbacks = nlohmann::json::object();  // early stopping, plateau, best metric
  nlohmann::json extra = nlohmann::json::object();      // trial id, experiment, ...

  nlohmann::json to_json() const;
  static TrainingState from_json(const nlohmann::json& j);
};

struct CheckpointInfo {
  ModelConfig model;
  std::optional<TrainingState> state;
  bool has_optimizer = false;
  bool has_best = false;
};

// Saves atomically. optimizer, state and best may be null. A full disk is a
// CheckpointError naming the file; the previous checkpoint at path is kept.
void save_checkpoint(const std::string& path, const ModelConfig& config, Model& model, Optimizer* optimizer,
                     const TrainingState* state, const std::vector<StateEntry>* best = nullptr);

// Removes PATH.tmp-HOST-PID files in directory whose writer on this host is gone;
// save_checkpoint does this itself. Returns how many were removed.
int remove_stale_checkpoint_temporaries(const std::string& directory);

// Reads the attributes only; CheckpointError naming the file when it is missing or not a checkpoint.
CheckpointInfo read_checkpoint_info(const std::string& path);

// Loads weights and buffers into the first `layers` layers of model (all when
// layers < 0); names and shapes must match, else CheckpointError naming them.
void load_model_state(const std::string& path, Model& model, int64_t layers = -1);
void load_optimizer_state(const std::string& path, Optimizer& optimizer);
// Loads /best into the given tensors (same names as model.state()).
void load_best_state(const std::string& path, Backend& backend, std::vector<StateEntry>& best);

}  // namespace stride
