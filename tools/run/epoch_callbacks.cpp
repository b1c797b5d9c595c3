// Epoch-end decisions and best-weight keeping for the trainer.
#include "epoch_callbacks.h"

#include <fmt/format.h>

#include <cmath>

namespace stride::tools {

namespace {

std::optional<double> metric(const EpochMetrics& m, const std::string& name) {
  const auto it = m.values.find(name);
  if (it == m.values.end()) return std::nullopt;
  return it->second;
}

tracker::Decision to_row(int64_t epoch, const std::string& checker, const std::string& monitor, const Verdict& v) {
  tracker::Decision d;
  d.epoch = epoch;
  switch (v.kind) {
    case VerdictKind::early_stop:
      d.kind = tracker::DecisionKind::early_stop;
      break;
    case VerdictKind::reduce_lr:
      d.kind = tracker::DecisionKind::reduce_lr;
      break;
    case VerdictKind::keep:
    case VerdictKind::skip:
      d.kind = tracker::DecisionKind::keep;
      break;
  }
  d.checker = checker;
  d.monitor = monitor;
  d.value = v.value;
  d.best = v.best;
  d.wait = v.wait;
  d.patience = v.patience;
  d.reason = v.reason;
  return d;
}

}  // namespace

std::string describe_epoch(const EpochMetrics& m) {
  static constexpr std::pair<const char*, const char*> kShown[] = {{"train_loss", "loss {:.4f}"},
                                                                   {"train_accuracy", "acc {:.4f}"},
                                                                   {"val_loss", "val_loss {:.4f}"},
                                                                   {"val_accuracy", "val_acc {:.4f}"},
                                                                   {"lr", "lr {:.3g}"},
                                                                   {"images_per_s", "{:.0f} img/s"},
                                                                   {"epoch_seconds", "{:.1f}s"}};
  std::string text;
  for (const auto& [name, format] : kShown) {
    const auto it = m.values.find(name);
    if (it == m.values.end()) continue;
    if (!text.empty()) text += ' ';
    text += fmt::format(fmt::runtime(format), it->second);
  }
  if (const auto wait = m.values.find("data_wait_fraction"); wait != m.values.end())
    text += fmt::format(" (data wait {:.1f}%)", 100.0 * wait->second);
  return text;
}

Callbacks::Callbacks(const Config& config, Model& model) {
  if (config.has("early_stopping.patience")) {
    EarlyStoppingConfig c;
    c.monitor = config.text("early_stopping.monitor");
    c.mode = parse_monitor_mode(config.text("early_stopping.mode"), c.monitor);
    c.min_delta = config.real("early_stopping.min_delta");
    c.patience = config.integer("early_stopping.patience");
    if (config.has("early_stopping.baseline")) c.baseline = config.real("early_stopping.baseline");
    c.start_from_epoch = config.integer("early_stopping.start_from_epoch");
    c.restore_best = config.boolean("early_stopping.restore_best");
    early_stopping_.emplace(c);
  }
  if (config.has("reduce_lr.patience")) {
    ReduceLrConfig c;
    c.monitor = config.text("reduce_lr.monitor");
    c.mode = parse_monitor_mode(config.text("reduce_lr.mode"), c.monitor);
    c.factor = config.real("reduce_lr.factor");
    c.patience = config.integer("reduce_lr.patience");
    c.min_delta = config.real("reduce_lr.min_delta");
    c.cooldown = config.integer("reduce_lr.cooldown");
    c.min_lr = config.real("reduce_lr.min_lr");
    reduce_lr_.emplace(c);
  }
  best_metric_ = early_stopping_ ? early_stopping_->config().monitor : std::string("val_accuracy");
  best_mode_ = early_stopping_ ? early_stopping_->config().mode : MonitorMode::max;
  if (early_stopping_ && early_stopping_->config().restore_best) {
    for (const StateEntry& e : model.state()) {
      best_tensors_.emplace_back(model.backend(), e.tensor->shape(), e.tensor->dtype());
      best_entries_.push_back({e.layer, e.name, nullptr});
    }
    for (size_t i = 0; i < best_entries_.size(); ++i) best_entries_[i].tensor = &best_tensors_[i];
  }
}

EpochDecisions Callbacks::end_of_epoch(int64_t epoch, const EpochMetrics& metrics, double lr, Model& model) {
  EpochDecisions out;
  if (const auto loss = metric(metrics, "train_loss"); loss && !std::isfinite(*loss)) {
    tracker::Decision d;
    d.epoch = epoch;
    d.kind = tracker::DecisionKind::early_stop;
    d.checker = "terminate_on_nan";
    d.monitor = "train_loss";
    d.value = *loss;
    d.reason = fmt::format("train_loss is {} in epoch {}: training diverged; the trial stops and is marked failed",
                           std::isnan(*loss) ? "NaN"
                           : *loss > 0       ? "inf"
                                             : "-inf",
                           epoch + 1);
    out.rows.push_back(std::move(d));
    out.stop = out.diverged = true;
    return out;
  }
  if (const auto value = metric(metrics, best_metric_); value && std::isfinite(*value)) {
    if (!best_ || improves(best_mode_, *value, best_->value, 0.0))
      best_ = tracker::BestMetric{best_metric_, *value, epoch,
                                  best_mode_ == MonitorMode::max ? tracker::Goal::maximize : tracker::Goal::minimize};
  }
  if (early_stopping_) {
    const Verdict v = early_stopping_->check(epoch, metric(metrics, early_stopping_->config().monitor));
    out.rows.push_back(to_row(epoch, "early_stopping", early_stopping_->config().monitor, v));
    out.stop = v.kind == VerdictKind::early_stop;
    if (early_stopping_->best_is_current() && !best_tensors_.empty()) {
      const std::vector<StateEntry> current = model.state();
      for (size_t i = 0; i < current.size(); ++i) model.backend().copy(*current[i].tensor, best_tensors_[i]);
      best_weights_taken_ = true;
    }
  }
  if (reduce_lr_) {
    const Verdict v = reduce_lr_->check(epoch, metric(metrics, reduce_lr_->config().monitor), lr);
    out.rows.push_back(to_row(epoch, "reduce_lr_on_plateau", reduce_lr_->config().monitor, v));
    if (v.kind == VerdictKind::reduce_lr && lr > 0) lr_factor_ *= v.new_lr / lr;
  }
  return out;
}

bool Callbacks::restore_best(Model& model) {
  if (!best_weights_taken_) return false;
  const std::vector<StateEntry> current = model.state();
  for (size_t i = 0; i < current.size(); ++i) model.backend().copy(best_tensors_[i], *current[i].tensor);
  return true;
}

std::vector<StateEntry>* Callbacks::best_weights() { return best_weights_taken_ ? &best_entries_ : nullptr; }

std::vector<StateEntry>* Callbacks::best_weight_slots() { return best_entries_.empty() ? nullptr : &best_entries_; }

nlohmann::json Callbacks::state() const {
  nlohmann::json j = {{"lr_factor", lr_factor_}, {"best_weights", best_weights_taken_}};
  if (early_stopping_) j["early_stopping"] = early_stopping_->state();
  if (reduce_lr_) j["reduce_lr"] = reduce_lr_->state();
  if (best_) j["best"] = {{"metric", best_->metric}, {"value", best_->value}, {"epoch", best_->epoch}};
  return j;
}

void Callbacks::restore(const nlohmann::json& j) {
  lr_factor_ = j.value("lr_factor", 1.0);
  best_weights_taken_ = j.value("best_weights", false) && !best_entries_.empty();
  if (early_stopping_ && j.contains("early_stopping")) early_stopping_->restore(j.at("early_stopping"));
  if (reduce_lr_ && j.contains("reduce_lr")) reduce_lr_->restore(j.at("reduce_lr"));
  best_.reset();
  if (j.contains("best")) {
    const auto& b = j.at("best");
    best_ = tracker::BestMetric{b.at("metric").get<std::string>(), b.at("value").get<double>(),
                                b.at("epoch").get<int64_t>(),
                                best_mode_ == MonitorMode::max ? tracker::Goal::maximize : tracker::Goal::minimize};
  }
}

}  // namespace stride::tools
