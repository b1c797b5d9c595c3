// Optimizer: slot allocation, clipping and the per-parameter backend updates.
#include "stride/core/optimizer.h"

#include <algorithm>
#include <cmath>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride {

Optimizer::Optimizer(const OptimizerConfig& config, Model& model)
    : config_(config), backend_(model.backend()), model_(model) {
  config_.kind = to_lower(config_.kind);
  if (config_.kind != "adam" && config_.kind != "adamw" && config_.kind != "sgd")
    fail<ConfigError>("train.optimizer: expected adam, adamw or sgd, got '{}'", config.kind);
  if (config_.weight_decay < 0) fail<ConfigError>("train.weight_decay: must be >= 0, got {}", config_.weight_decay);
  if (config_.momentum < 0 || config_.momentum >= 1)
    fail<ConfigError>("train.momentum: must be in [0, 1), got {}", config_.momentum);
  if (config_.nesterov && config_.momentum == 0)
    fail<ConfigError>("train.nesterov: needs train.momentum > 0");
  kind_ = config_.kind == "sgd" ? Kind::sgd : config_.kind == "adamw" ? Kind::adamw : Kind::adam;
  const ParameterArena& arena = model.arena();
  const int64_t size = std::max<int64_t>(arena.size(), 1);
  auto zeros = [&] {
    Tensor t(backend_, Shape{size});
    backend_.fill(t, 0.0f);
    return t;
  };
  if (kind_ != Kind::sgd || config_.momentum > 0) first_ = zeros();
  if (kind_ != Kind::sgd) second_ = zeros();
  norm_ = zeros().view(Shape{1});
  for (const ArenaEntry& e : arena.entries) {
    Entry entry{model.layer_name(e.layer), e.parameter, {}, {}};
    if (first_.defined()) entry.first = first_.slice(e.offset, e.parameter->shape);
    if (second_.defined()) entry.second = second_.slice(e.offset, e.parameter->shape);
    entries_.push_back(std::move(entry));
  }
}

void Optimizer::step(float lr) {
  ++steps_;
  ParameterArena& arena = model_.arena();
  if (arena.size() == 0) return;
  arena.trainable_segments(segments_);
  Tensor& w = arena.values;
  Tensor& g = arena.grads;
  if (config_.clip_norm > 0) backend_.clip_by_global_norm(segments_, g, config_.clip_norm, norm_);
  if (kind_ == Kind::sgd) {
    const SgdParams sp{lr, config_.momentum, config_.weight_decay, config_.nesterov};
    backend_.sgd_update(sp, segments_, w, g, first_);
  } else {
    const AdamParams ap{lr,          config_.beta1,           config_.beta2, config_.epsilon,
                        config_.weight_decay, kind_ == Kind::adamw, steps_};
    backend_.adam_update(ap, segments_, w, g, first_, second_);
  }
}

std::vector<SlotEntry> Optimizer::slots() {
  std::vector<SlotEntry> out;
  for (Entry& e : entries_) {
    if (kind_ == Kind::sgd) {
      if (e.first.defined()) out.push_back({e.layer, e.parameter->name, "velocity", &e.first});
    } else {
      out.push_back({e.layer, e.parameter->name, "m", &e.first});
      out.push_back({e.layer, e.parameter->name, "v", &e.second});
    }
  }
  return out;
}

}  // namespace stride
