// EarlyStopping and ReduceLROnPlateau, step for step as Keras 3 decides.
#include "stride/core/callbacks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "stride/common/error.h"

namespace stride {

namespace {

std::optional<double> optional_from(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<double>();
}

nlohmann::json to_json(std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

// A check that did not look at the value: the state it reports is unchanged.
Verdict skipped(Verdict v, std::optional<double> best, int64_t wait, std::string reason) {
  v.kind = VerdictKind::skip;
  v.best = best;
  v.wait = wait;
  v.reason = std::move(reason);
  return v;
}

// Keras skips a check only when the metric is absent; a NaN (or inf) value
// counts as an epoch without improvement, and never becomes the best.
bool usable(double value) { return std::isfinite(value); }

}  // namespace

MonitorMode parse_monitor_mode(const std::string& mode, const std::string& monitor) {
  if (mode == "min") return MonitorMode::min;
  if (mode == "max") return MonitorMode::max;
  if (mode == "auto") {
    const bool accuracy = monitor.find("acc") != std::string::npos || monitor.find("f1") != std::string::npos ||
                          monitor.find("images_per_s") != std::string::npos;
    return accuracy ? MonitorMode::max : MonitorMode::min;
  }
  fail<ConfigError>("mode: expected min, max or auto, got '{}'", mode);
}

bool improves(MonitorMode mode, double value, double best, double min_delta) {
  const double delta = std::abs(min_delta);
  return mode == MonitorMode::min ? value < best - delta : value > best + delta;
}

EarlyStopping::EarlyStopping(const EarlyStoppingConfig& config) : config_(config) {
  if (config_.patience < 0) fail<ConfigError>("early_stopping.patience: must be >= 0, got {}", config_.patience);
}

Verdict EarlyStopping::check(int64_t epoch, std::optional<double> value) {
  Verdict v;
  v.value = value;
  v.patience = config_.patience;
  best_is_current_ = false;
  if (epoch < config_.start_from_epoch)
    return skipped(v, best_, wait_,
                   fmt::format("epoch {} is before start_from_epoch {}: not checked", epoch, config_.start_from_epoch));
  if (!value) return skipped(v, best_, wait_, fmt::format("{} is missing this epoch: not checked", config_.monitor));
  wait_ += 1;
  // Keras compares against the running best, or the baseline while no best exists.
  const bool first = !best_.has_value();
  if (usable(*value) && (first || improves(config_.mode, *value, *best_, config_.min_delta))) {
    best_ = *value;
    best_epoch_ = epoch;
    best_is_current_ = true;
    v.improved = true;
    const bool beats_baseline =
        !config_.baseline || improves(config_.mode, *value, *config_.baseline, config_.min_delta);
    if (beats_baseline) wait_ = 0;
  }
  v.best = best_;
  v.wait = wait_;
  if (v.improved) {  // Keras returns on improvement: no stop this epoch
    v.kind = VerdictKind::keep;
    v.reason = wait_ == 0
                   ? fmt::format("{} improved to {:.6g}; patience left {}", config_.monitor, *value, config_.patience)
                   : fmt::format("{} improved to {:.6g} but not past baseline {:.6g}; patience left {}",
                                 config_.monitor, *value, *config_.baseline, config_.patience - wait_);
    return v;
  }
  const std::string best = best_ ? fmt::format("{:.6g} at epoch {}", *best_, *best_epoch_) : "none yet";
  if (wait_ >= config_.patience && epoch > 0) {
    v.kind = VerdictKind::early_stop;
    v.reason = fmt::format("{} = {:.6g}, best {}; {} epochs without improvement >= patience {}", config_.monitor,
                           *value, best, wait_, config_.patience);
    return v;
  }
  v.kind = VerdictKind::keep;
  v.reason = fmt::format("{} = {:.6g} did not improve on {}; patience left {}", config_.monitor, *value, best,
                         config_.patience - wait_);
  return v;
}

nlohmann::json EarlyStopping::state() const {
  return {{"wait", wait_},
          {"best", to_json(best_)},
          {"best_epoch", best_epoch_ ? nlohmann::json(*best_epoch_) : nlohmann::json()}};
}

void EarlyStopping::restore(const nlohmann::json& state) {
  wait_ = state.value("wait", int64_t{0});
  best_ = optional_from(state, "best");
  best_epoch_.reset();
  if (state.contains("best_epoch") && !state.at("best_epoch").is_null())
    best_epoch_ = state.at("best_epoch").get<int64_t>();
}

ReduceLrOnPlateau::ReduceLrOnPlateau(const ReduceLrConfig& config) : config_(config) {
  if (config_.factor <= 0 || config_.factor >= 1)
    fail<ConfigError>("reduce_lr.factor: must be in (0, 1), got {}", config_.factor);
  if (config_.patience < 0) fail<ConfigError>("reduce_lr.patience: must be >= 0, got {}", config_.patience);
}

Verdict ReduceLrOnPlateau::check(int64_t /*epoch*/, std::optional<double> value, double lr) {
  Verdict v;
  v.value = value;
  v.patience = config_.patience;
  if (!value) return skipped(v, best_, wait_, fmt::format("{} is missing this epoch: not checked", config_.monitor));
  if (cooldown_left_ > 0) {
    cooldown_left_ -= 1;
    wait_ = 0;
  }
  // Keras asks "in cooldown?" again after counting down.
  const bool in_cooldown = cooldown_left_ > 0;
  if (usable(*value) && (!best_ || improves(config_.mode, *value, *best_, config_.min_delta))) {
    best_ = *value;
    wait_ = 0;
    v.improved = true;
  } else if (!in_cooldown) {
    wait_ += 1;
    if (wait_ >= config_.patience && lr > config_.min_lr) {
      v.new_lr = std::max(lr * config_.factor, config_.min_lr);
      v.kind = VerdictKind::reduce_lr;
      v.best = best_;
      v.wait = wait_;
      v.reason = fmt::format("{} = {:.6g} did not improve on {} for {} epochs: lr {:.6g} -> {:.6g}", config_.monitor,
                             *value, best_ ? fmt::format("{:.6g}", *best_) : "none yet", wait_, lr, v.new_lr);
      cooldown_left_ = config_.cooldown;
      wait_ = 0;
      return v;
    }
  }
  v.kind = VerdictKind::keep;
  v.best = best_;
  v.wait = wait_;
  v.reason = in_cooldown  ? fmt::format("in cooldown ({} epochs left)", cooldown_left_)
             : v.improved ? fmt::format("{} improved to {:.6g}", config_.monitor, *value)
                          : fmt::format("{} = {:.6g}, best {}; patience left {}", config_.monitor, *value,
                                        best_ ? fmt::format("{:.6g}", *best_) : "none yet", config_.patience - wait_);
  return v;
}

nlohmann::json ReduceLrOnPlateau::state() const {
  return {{"wait", wait_}, {"cooldown_left", cooldown_left_}, {"best", to_json(best_)}};
}

void ReduceLrOnPlateau::restore(const nlohmann::json& state) {
  wait_ = state.value("wait", int64_t{0});
  cooldown_left_ = state.value("cooldown_left", int64_t{0});
  best_ = optional_from(state, "best");
}

}  // namespace stride
