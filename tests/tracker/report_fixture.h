// A small store for the report tests: experiment "sweep" with four trials
// over train.lr and train.optimizer (data.batch_size fixed), curves, decisions
// and one evaluation; and an experiment whose names are all markup.
#pragma once

#include <cmath>

#include "fixture.h"

namespace stride::tracker::testing {

inline constexpr const char* kMarkup = "<script>alert(1)</script>";

// Trial k (1-based): lr = {0.001, 0.003, 0.01, 0.03}; final val_accuracy = 0.6 + 0.1 * (k - 1) except
// trial 3 at 0.95 (the best); val_loss = 1 - val_accuracy.
inline void fill_report_store(Store& store) {
  const int64_t sweep = store.ensure_experiment("sweep");
  const double lrs[] = {0.001, 0.003, 0.01, 0.03};
  const double finals[] = {0.6, 0.7, 0.95, 0.9};
  for (int i = 0; i < 4; ++i) {
    NewTrial trial = new_trial(sweep, {{"train.lr", lrs[i]},
                                       {"train.optimizer", i % 2 ? "sgd" : "adam"},
                                       {"data.batch_size", 64},
                                       {"model.layers", "conv(32,3) relu, dense(10)"}});
    const int64_t id = store.start_trial(trial);
    const int epochs = i == 0 ? 3 : 5;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      const double accuracy = finals[i] - 0.05 * (epochs - 1 - epoch);
      store.log_metrics(id, epoch_rows(epoch, accuracy, 1.0 - accuracy));
      store.log_decision(id, {epoch, DecisionKind::keep, "early_stopping", "val_loss", 1.0 - accuracy, 1.0 - accuracy,
                              0, 2, "improved"});
    }
    if (i == 0)
      store.log_decision(id, {2, DecisionKind::early_stop, "early_stopping", "val_loss", 0.4, 0.4, 2, 2,
                              "no improvement for 2 epochs"});
    store.finish_trial(id,
                       {i == 0 ? TrialStatus::stopped_early : TrialStatus::completed,
                        BestMetric{"val_accuracy", finals[i], epochs - 1, std::nullopt}, std::nullopt, std::nullopt});
    if (i == 2) {
      Evaluation e;
      e.accuracy = 0.95;
      e.classes = {{"cat", 0.9, 0.95, 0.92, 20}, {"dog", 0.96, 0.9, 0.93, 20}, {"bird", 1, 1, 1, 20}};
      e.confusion = {{19, 1, 0}, {2, 18, 0}, {0, 0, 20}};
      store.log_evaluation(id, e);
    }
  }
  const int64_t evil = store.ensure_experiment(kMarkup);
  for (int i = 0; i < 2; ++i) {
    const int64_t id = store.start_trial(new_trial(evil, {{kMarkup, i ? "<img src=x onerror=alert(2)>" : "&amp;"}}));
    for (int epoch = 0; epoch < 2; ++epoch) {
      store.log_metrics(id, epoch_rows(epoch, 0.5 + 0.1 * i, 0.5));
      store.log_metrics(id, std::vector<MetricRow>{{kMarkup, epoch, std::nullopt, 1.0, 0}});
    }
    Evaluation e;
    e.accuracy = 0.5;
    e.classes = {{kMarkup, 0.5, 0.5, 0.5, 2}, {"</svg><b>x</b>", 0.5, 0.5, 0.5, 2}};
    e.confusion = {{1, 1}, {1, 1}};
    store.log_evaluation(id, e);
    store.finish_trial(
        id, {TrialStatus::completed, BestMetric{kMarkup, 1.0, 1, Goal::maximize}, std::nullopt, std::nullopt});
  }
}

}  // namespace stride::tracker::testing
