// Median and successive-halving pruners.
#include "pruners.h"

#include <fmt/format.h>

#include <algorithm>

namespace stride::tools {

namespace {

tracker::Decision decision(const PrunerConfig& config, int64_t epoch, double value, std::optional<double> best,
                           bool prune, std::string reason) {
  tracker::Decision d;
  d.epoch = epoch;
  d.kind = prune ? tracker::DecisionKind::prune : tracker::DecisionKind::keep;
  d.checker = config.kind == "median" ? "median_pruner" : config.kind;
  d.monitor = config.metric;
  d.value = value;
  d.best = best;
  d.reason = std::move(reason);
  return d;
}

bool better(MonitorMode mode, double a, double b) { return mode == MonitorMode::max ? a > b : a < b; }

}  // namespace

tracker::Decision median_prune(const PrunerConfig& config, int64_t epoch, const std::vector<double>& history,
                               const std::vector<PeerValue>& peers_at_epoch, int64_t completed_trials) {
  const double value = history.back();
  double best = history.front();
  for (double v : history)
    if (better(config.mode, v, best)) best = v;
  if (completed_trials < config.n_startup_trials)
    return decision(config, epoch, value, best, false,
                    fmt::format("{} of {} startup trials completed: no pruning yet", completed_trials,
                                config.n_startup_trials));
  if (epoch < config.n_warmup_epochs)
    return decision(config, epoch, value, best, false,
                    fmt::format("epoch {} is within the {} warmup epochs", epoch, config.n_warmup_epochs));
  std::vector<double> values;
  for (const PeerValue& p : peers_at_epoch)
    if (p.completed) values.push_back(p.value);
  if (values.empty())
    return decision(config, epoch, value, best, false, "no completed trial reached this epoch");
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  const bool prune = better(config.mode, median, best);
  return decision(config, epoch, value, best, prune,
                  fmt::format("best {} so far {:.6g} is {} the median {:.6g} of {} completed trials at epoch {}",
                              config.metric, best, prune ? "worse than" : "not worse than", median, n, epoch));
}

tracker::Decision asha_prune(const PrunerConfig& config, int64_t epoch, double value,
                             const std::vector<PeerValue>& peers_at_epoch) {
  // Epochs completed = epoch + 1; rungs at min_epochs * rf^k.
  const int64_t done = epoch + 1;
  int64_t rung = config.min_epochs;
  while (rung < done) rung *= config.reduction_factor;
  if (rung != done)
    return decision(config, epoch, value, std::nullopt, false,
                    fmt::format("{} epochs is not a rung (next rung at {})", done, rung));
  std::vector<double> values = {value};
  for (const PeerValue& p : peers_at_epoch) values.push_back(p.value);
  const auto n = static_cast<int64_t>(values.size());
  const int64_t keep = std::max<int64_t>(1, n / config.reduction_factor);
  int64_t rank = 0;  // trials strictly better than this one
  for (size_t i = 1; i < values.size(); ++i)
    if (better(config.mode, values[i], value)) ++rank;
  const bool prune = rank >= keep;
  return decision(config, epoch, value, std::nullopt, prune,
                  fmt::format("rung {} epochs: {} is number {} of {} trials, the top {} go on", done, value, rank + 1,
                              n, keep));
}

tracker::Decision spare_last_epoch(tracker::Decision decision, int64_t epochs) {
  if (decision.kind != tracker::DecisionKind::prune || decision.epoch + 1 < epochs) return decision;
  decision.kind = tracker::DecisionKind::keep;
  decision.reason +=
      fmt::format("; epoch {} is the last of {}: the trial has run in full and completes", decision.epoch, epochs);
  return decision;
}

}  // namespace stride::tools
