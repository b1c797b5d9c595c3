// What the training loop writes to the experiment store and what the report
// reads back. Times are Unix seconds (wall clock, as a double). Epochs are
// 0-based, as Keras callbacks count them. A metric row without a step is the
// epoch's value (what curves, "final" and the leaderboard use); rows with a
// step are finer-grained points inside the epoch.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stride/tracker/params.h"

namespace stride::tracker {

enum class TrialStatus { running, completed, stopped_early, pruned, failed };
// Ran to its end: completed, or stopped by its own early stopping (what Optuna
// counts as a complete trial). Only these rank as best.
inline bool is_finished(TrialStatus status) {
  return status == TrialStatus::completed || status == TrialStatus::stopped_early;
}
enum class DecisionKind { early_stop, reduce_lr, prune, keep };
enum class Goal { minimize, maximize };

// Names as stored and printed ("stopped_early", "reduce_lr"); parse_* throw StoreError naming the value.
std::string_view status_name(TrialStatus status);
TrialStatus parse_status(std::string_view name);
std::string_view decision_kind_name(DecisionKind kind);
DecisionKind parse_decision_kind(std::string_view name);
std::string_view goal_name(Goal goal);  // "min" / "max"
Goal parse_goal(std::string_view name);
// Losses, errors and times are minimised; accuracies, throughput and anything else maximised.
Goal default_goal(std::string_view metric);

double now_seconds();     // wall clock, Unix seconds
std::string this_host();  // gethostname()

struct BestMetric {
  std::string metric{};  // e.g. "val_accuracy"
  double value = 0;
  int64_t epoch = 0;
  std::optional<Goal> goal{};  // unset: default_goal(metric)
};

struct NewTrial {
  int64_t experiment_id = 0;  // from Store::ensure_experiment
  Params params{};
  int64_t world_size = 1;      // ranks of the data-parallel job
  std::string device = "cpu";  // "cpu", "cuda", "cuda:0" ...
  std::string host{};          // empty: this host
  int64_t pid = 0;             // 0: this process (the rank-0 process that writes)
  std::string config_text{};   // the INI the trial ran with, overrides applied
  // What identifies the trial among its experiment's (param_hash is computed
  // from it); unset: all of params. Every entry should also be in params.
  std::optional<Params> identity{};
  const Params& identity_params() const { return identity ? *identity : params; }
};

struct MetricRow {
  std::string name{};  // "train_loss", "val_accuracy", "lr", ...
  int64_t epoch = 0;
  std::optional<int64_t> step{};  // unset: the epoch's value; set: global step of a point inside the epoch
  double value = 0;
  double wall_time = 0;  // 0: now
};

// One check of a callback (early stopping, plateau, pruner) at one epoch, "keep" included.
struct Decision {
  int64_t epoch = 0;
  DecisionKind kind = DecisionKind::keep;
  std::string checker{};          // "early_stopping", "reduce_lr_on_plateau", "median_pruner", "asha"
  std::string monitor{};          // the monitored metric name
  std::optional<double> value{};  // monitored value this epoch (unset: metric missing)
  std::optional<double> best{};   // best so far
  int64_t wait = 0;               // epochs without improvement
  int64_t patience = 0;           // configured patience; patience left = patience - wait
  std::string reason{};           // one sentence with the numbers
};

struct ClassReport {
  std::string name{};
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
};

struct Averages {
  double precision = 0, recall = 0, f1 = 0;
};

struct Evaluation {
  std::string split = "test";
  double accuracy = 0;
  std::optional<double> loss{};
  std::vector<ClassReport> classes{};  // in class-index order
  Averages macro{}, weighted{};
  std::vector<std::vector<int64_t>> confusion{};  // [true class][predicted class]
};

// How a trial ended; every field optional except the status.
struct TrialOutcome {
  TrialStatus status = TrialStatus::completed;
  std::optional<BestMetric> best{};
  std::optional<std::string> checkpoint_path{};
  std::optional<std::string> error{};
};

// A trial as read back.
struct TrialRecord {
  int64_t id = 0;
  int64_t experiment_id = 0;
  std::string experiment{};
  TrialStatus status = TrialStatus::running;
  Params params{};
  std::string param_hash{};
  int64_t world_size = 1;
  std::string device{}, host{};
  int64_t pid = 0;
  double started_at = 0;
  std::optional<double> ended_at{};
  double heartbeat_at = 0;
  std::optional<BestMetric> best{};
  std::optional<std::string> checkpoint_path{}, error{};
  std::string config_text{};
  int64_t attempts = 1;                           // 1 + number of resumes / reclaims
  int64_t epochs = 0;                             // 1 + last epoch with an epoch-level metric row (0: none)
  std::map<std::string, double> final_metrics{};  // each metric's value at its last epoch
};

struct ExperimentSummary {
  int64_t id = 0;
  std::string name{};
  double created_at = 0;
  std::map<TrialStatus, int64_t> trials_by_status{};
  int64_t trials = 0;
  std::optional<BestMetric> best{};  // the best trial's best metric
  std::optional<int64_t> best_trial{};
  std::optional<double> last_activity{};  // latest heartbeat, end or start time
};

struct MetricPoint {
  int64_t epoch = 0;
  std::optional<int64_t> step{};
  double value = 0;
  double wall_time = 0;
};

// Points of one metric of one trial, in (epoch, step) order.
struct MetricSeries {
  int64_t trial_id = 0;
  std::string name{};
  std::vector<MetricPoint> points{};
};

struct DecisionRecord {
  int64_t id = 0;
  int64_t trial_id = 0;
  std::string experiment{};
  double created_at = 0;
  Decision decision{};
};

}  // namespace stride::tracker
