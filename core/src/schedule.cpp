// Learning-rate schedules as pure functions of the global step.
#include "stride/core/schedule.h"

#include <algorithm>
#include <cmath>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride {
namespace {

constexpr double kPi = 3.14159265358979323846;

double cosine_between(double start, double end, double t) { return end + (start - end) * 0.5 * (1 + std::cos(kPi * t)); }

}  // namespace

LrSchedule::LrSchedule(const ScheduleConfig& config) : config_(config) {
  config_.kind = to_lower(config_.kind);
  if (config_.kind != "constant" && config_.kind != "step" && config_.kind != "cosine" && config_.kind != "onecycle")
    fail<ConfigError>("train.schedule: expected constant, step, cosine or onecycle, got '{}'", config.kind);
  if (!(config_.lr > 0)) fail<ConfigError>("train.lr: must be positive, got {}", config_.lr);
  if (config_.warmup_epochs < 0) fail<ConfigError>("train.warmup_epochs: must be >= 0, got {}", config_.warmup_epochs);
  if (config_.kind == "step" && !(config_.step_epochs > 0))
    fail<ConfigError>("train.step_epochs: must be positive, got {}", config_.step_epochs);
  if (config_.kind == "onecycle" && !(config_.pct_start > 0 && config_.pct_start < 1))
    fail<ConfigError>("train.pct_start: must be in (0, 1), got {}", config_.pct_start);
  total_steps_ = std::max<int64_t>(1, config_.epochs * config_.steps_per_epoch);
  warmup_steps_ = static_cast<int64_t>(std::llround(config_.warmup_epochs * static_cast<double>(config_.steps_per_epoch)));
}

float LrSchedule::at(int64_t step) const {
  const ScheduleConfig& c = config_;
  double lr = c.lr;
  if (c.kind == "onecycle") {
    const double peak_step = c.pct_start * static_cast<double>(total_steps_) - 1;
    const double initial = c.lr / c.div_factor, final_lr = initial / c.final_div_factor;
    const double s = static_cast<double>(step);
    if (s <= peak_step)
      return static_cast<float>(cosine_between(initial, c.lr, peak_step > 0 ? s / peak_step : 1.0));
    const double rest = static_cast<double>(total_steps_ - 1) - peak_step;
    return static_cast<float>(cosine_between(c.lr, final_lr, rest > 0 ? std::min(1.0, (s - peak_step) / rest) : 1.0));
  }
  if (c.kind == "step") {
    const double epoch = static_cast<double>(step) / static_cast<double>(c.steps_per_epoch);
    lr = c.lr * std::pow(c.gamma, std::floor(epoch / c.step_epochs));
  } else if (c.kind == "cosine") {
    // Cosine over the steps after warmup.
    const double span = static_cast<double>(std::max<int64_t>(1, total_steps_ - warmup_steps_));
    const double u = std::clamp(static_cast<double>(step - warmup_steps_) / span, 0.0, 1.0);
    lr = cosine_between(c.lr, c.min_lr, u);
  }
  if (step < warmup_steps_) lr *= static_cast<double>(step + 1) / static_cast<double>(warmup_steps_);
  return static_cast<float>(lr);
}

}  // namespace stride
