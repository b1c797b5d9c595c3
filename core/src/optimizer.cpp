// Optimizer: slot allocation, clipping and the per-parameter backend updates.
#include "stride/core/optimizer.h"

#include <cmath>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride {

Optimizer::Optimizer(const OptimizerConfig& config, Model& model) : config_(config), backend_(model.backend()) {
  config_.kind = to_lower(config_.kind);
  if (config_.kind != "adam" && config_.kind != "adamw" && config_.kind != "sgd")
    fail<ConfigError>("train.optimizer: expected adam, adamw or sgd, got '{}'", config.kind);
  if (config_.weight_decay < 0) fail<ConfigError>("train.weight_decay: must be >= 0, got {}", config_.weight_decay);
  if (config_.momentum < 0 || config_.momentum >= 1)
    fail<ConfigError>("train.momentum: must be in [0, 1), got {}", config_.momentum);
  if (config_.nesterov && config_.momentum == 0)
    fail<ConfigError>("train.nesterov: needs train.momentum > 0");
  for (size_t i = 0; i < model.size(); ++i) {
    for (Parameter* p : model.layer_parameters(i)) {
      Entry entry{model.layer_name(i), p, {}, {}};
      if (config_.kind != "sgd" || config_.momentum > 0) {
        entry.first = Tensor(backend_, p->value.shape());
        backend_.fill(entry.first, 0.0f);
      }
      if (config_.kind != "sgd") {
        entry.second = Tensor(backend_, p->value.shape());
        backend_.fill(entry.second, 0.0f);
      }
      entries_.push_back(std::move(entry));
    }
  }
}

double Optimizer::step(float lr) {
  ++steps_;
  double norm = 0;
  if (config_.clip_norm > 0) {
    double sum = 0;
    for (Entry& e : entries_)
      if (e.parameter->trainable) sum += backend_.sum_of_squares(e.parameter->grad);
    norm = std::sqrt(sum);
    if (norm > config_.clip_norm) {
      const float factor = static_cast<float>(config_.clip_norm / norm);
      for (Entry& e : entries_)
        if (e.parameter->trainable) backend_.scale(e.parameter->grad, factor);
    }
  }
  for (Entry& e : entries_) {
    Parameter& p = *e.parameter;
    if (!p.trainable) continue;
    const float decay = p.decay ? config_.weight_decay : 0.0f;
    if (config_.kind == "sgd") {
      SgdParams sp{lr, config_.momentum, decay, config_.nesterov};
      backend_.sgd_update(sp, p.value, p.grad, e.first);
    } else {
      AdamParams ap{lr, config_.beta1, config_.beta2, config_.epsilon, decay, config_.kind == "adamw", steps_};
      backend_.adam_update(ap, p.value, p.grad, e.first, e.second);
    }
  }
  return norm;
}

std::vector<SlotEntry> Optimizer::slots() {
  std::vector<SlotEntry> out;
  for (Entry& e : entries_) {
    if (config_.kind == "sgd") {
      if (e.first.defined()) out.push_back({e.layer, e.parameter->name, "velocity", &e.first});
    } else {
      out.push_back({e.layer, e.parameter->name, "m", &e.first});
      out.push_back({e.layer, e.parameter->name, "v", &e.second});
    }
  }
  return out;
}

}  // namespace stride
