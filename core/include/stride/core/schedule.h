// Learning-rate schedules, evaluated per optimizer step:
//   constant  lr
//   step      lr * gamma^floor(epoch / step_epochs)
//   cosine    min_lr + (lr - min_lr) * (1 + cos(pi * t)) / 2, t from 0 to 1 over training
//   onecycle  PyTorch's OneCycleLR (cosine): lr/div_factor up to lr over pct_start
//             of training, then down to lr/(div_factor*final_div_factor)
// with an optional linear warmup over the first warmup_epochs (from lr/warmup
// steps up to the schedule's value), applied to every kind but onecycle.
#pragma once

#include <cstdint>
#include <string>

namespace stride {

struct ScheduleConfig {
  std::string kind = "constant";
  float lr = 1e-3f;
  int64_t epochs = 1;
  int64_t steps_per_epoch = 1;
  float warmup_epochs = 0.0f;
  float step_epochs = 10.0f;  // step
  float gamma = 0.1f;         // step
  float min_lr = 0.0f;        // cosine
  float pct_start = 0.3f;     // onecycle
  float div_factor = 25.0f;   // onecycle
  float final_div_factor = 1e4f;
};

class LrSchedule {
 public:
  explicit LrSchedule(const ScheduleConfig& config);
  // The learning rate for global step `step` (0-based).
  float at(int64_t step) const;
  const ScheduleConfig& config() const { return config_; }

 private:
  ScheduleConfig config_;
  int64_t total_steps_;
  int64_t warmup_steps_;
};

}  // namespace stride
