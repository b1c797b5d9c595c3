// The store in the formats other tools read (docs/EXPORT.md describes the
// mapping): MLflow's file store (experiments, runs with every parameter,
// per-epoch metrics with steps, status, tags; what `mlflow ui` and
// mlflow.search_runs() read) and TensorBoard event files (a run directory per
// trial, a scalar per metric per epoch). Exports only read the store; they
// write nothing outside `dir` but a staging directory beside it, and a rerun
// replaces what an earlier export of the same trials wrote.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "stride/tracker/store.h"

namespace stride::tracker {

struct ExportOptions {
  std::optional<std::string> experiment;  // unset: every experiment
};

struct ExportSummary {
  int64_t experiments = 0;
  int64_t trials = 0;
  int64_t metric_points = 0;
};

// `dir` is an MLflow FileStore root (an "mlruns" directory): experiment
// directories named by Stride's experiment ids, a run per trial. An existing
// experiment directory that another program wrote is refused, not replaced.
ExportSummary export_mlflow(Store& store, const std::filesystem::path& dir, const ExportOptions& options = {});

// `dir` is a TensorBoard log directory: DIR/EXPERIMENT/trial-ID/ holds one
// events.out.tfevents.* file per trial.
ExportSummary export_tensorboard(Store& store, const std::filesystem::path& dir, const ExportOptions& options = {});

}  // namespace stride::tracker
