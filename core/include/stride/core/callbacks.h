// Epoch-end decisions with Keras' semantics (DESIGN.md §7): EarlyStopping and
// ReduceLROnPlateau. Each check returns one Verdict — "keep" included — with
// the monitored value, the best so far and the patience left, so every
// decision can be logged and explained. Their state round-trips through JSON
// so a resumed run decides exactly as an uninterrupted one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace stride {

enum class MonitorMode { min, max };

// "min" | "max" | "auto" (auto: max for accuracies, min for everything else).
MonitorMode parse_monitor_mode(const std::string& mode, const std::string& monitor);

// Improvement as Keras tests it: min: value < best - |min_delta|; max: value > best + |min_delta|.
bool improves(MonitorMode mode, double value, double best, double min_delta);

enum class VerdictKind { keep, early_stop, reduce_lr, skip };

struct Verdict {
  VerdictKind kind = VerdictKind::keep;
  std::optional<double> value;  // monitored value (unset when missing)
  std::optional<double> best;
  int64_t wait = 0;
  int64_t patience = 0;
  bool improved = false;
  double new_lr = 0;  // reduce_lr
  std::string reason;
};

struct EarlyStoppingConfig {
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::min;
  double min_delta = 0;
  int64_t patience = 0;
  std::optional<double> baseline;
  int64_t start_from_epoch = 0;
  bool restore_best = false;
};

class EarlyStopping {
 public:
  explicit EarlyStopping(const EarlyStoppingConfig& config);

  // Called at the end of 0-based `epoch` with the monitored value (nullopt if missing).
  Verdict check(int64_t epoch, std::optional<double> value);
  // True when this epoch's weights are the best so far (take a copy for restore_best).
  bool best_is_current() const { return best_is_current_; }
  std::optional<int64_t> best_epoch() const { return best_epoch_; }
  std::optional<double> best() const { return best_; }
  const EarlyStoppingConfig& config() const { return config_; }

  nlohmann::json state() const;
  void restore(const nlohmann::json& state);

 private:
  EarlyStoppingConfig config_;
  int64_t wait_ = 0;
  std::optional<double> best_;
  std::optional<int64_t> best_epoch_;
  bool best_is_current_ = false;
};

struct ReduceLrConfig {
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::min;
  double factor = 0.1;
  int64_t patience = 10;
  double min_delta = 1e-4;
  int64_t cooldown = 0;
  double min_lr = 0;
};

class ReduceLrOnPlateau {
 public:
  explicit ReduceLrOnPlateau(const ReduceLrConfig& config);

  // lr: the learning rate in effect this epoch. A reduce_lr verdict carries the new one.
  Verdict check(int64_t epoch, std::optional<double> value, double lr);
  const ReduceLrConfig& config() const { return config_; }

  nlohmann::json state() const;
  void restore(const nlohmann::json& state);

 private:
  ReduceLrConfig config_;
  int64_t wait_ = 0;
  int64_t cooldown_left_ = 0;
  std::optional<double> best_;
};

}  // namespace stride
