// The store's write/read round trip: what the training loop logs comes back
// exactly, final metrics follow the last epoch, a resumed trial re-logs its
// later epochs without duplicates, and liveness marks dead trials failed.
#include <unistd.h>

#include <cmath>
#include <limits>

#include "fixture.h"
#include "stride/tracker/schema.h"

namespace stride::tracker::testing {
namespace {

Params sample_params() {
  return {{"train.lr", 0.003}, {"data.batch_size", 64}, {"model.layers", "conv(32,3) relu"}, {"augment.hflip", true}};
}

Evaluation sample_evaluation() {
  Evaluation e;
  e.split = "test";
  e.accuracy = 0.8125;
  e.loss = 0.5;
  e.classes = {{"cat", 0.9, 0.75, 0.8181818181818182, 12}, {"dog", 0.7, 0.875, 0.7777777777777778, 8}};
  e.macro = {0.8, 0.8125, 0.797979797979798};
  e.weighted = {0.82, 0.8125, 0.8020202020202020};
  e.confusion = {{9, 3}, {1, 7}};
  return e;
}

TEST_F(StoreTest, RoundTripsExperimentTrialParamsMetricsDecisionsAndEvaluation) {
  auto store = open();
  const int64_t experiment = store.ensure_experiment("fmnist_lr");
  EXPECT_EQ(store.ensure_experiment("fmnist_lr"), experiment) << "ensure_experiment must be idempotent";
  NewTrial request{experiment, sample_params(), 4, "cuda:0", "", 0, "[train]\nlr = 0.003\n"};
  const int64_t id = store.start_trial(request);

  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const auto rows = epoch_rows(epoch, 0.5 + 0.1 * static_cast<double>(epoch), 1.0 / static_cast<double>(epoch + 1));
    store.log_metrics(id, rows);
  }
  const MetricRow step_row{"train_loss", 2, int64_t{1234}, 0.25, 0};
  store.log_metrics(id, std::span(&step_row, 1));
  Decision keep{1, DecisionKind::keep, "early_stopping", "val_loss", 0.5, 0.5, 0, 3, "improved"};
  Decision stop{2, DecisionKind::early_stop, "early_stopping", "val_loss", std::nullopt, 0.5, 3, 3, "patience"};
  store.log_decision(id, keep);
  store.log_decision(id, stop);
  store.log_evaluation(id, sample_evaluation());
  store.finish_trial(id, {TrialStatus::stopped_early, BestMetric{"val_accuracy", 0.7, 2, std::nullopt},
                          std::string("runs/ckpt/1.h5"), std::nullopt});

  auto reader = open(Access::read_only);
  const TrialRecord t = reader.trial(id);
  EXPECT_EQ(t.experiment, "fmnist_lr");
  EXPECT_EQ(t.status, TrialStatus::stopped_early);
  ASSERT_EQ(t.params.size(), 4u);
  EXPECT_EQ(t.params.at("train.lr").type(), ParamType::real);
  EXPECT_EQ(t.params.at("train.lr").as_double(), 0.003);
  EXPECT_EQ(t.params.at("data.batch_size").type(), ParamType::integer);
  EXPECT_EQ(t.params.at("data.batch_size").as_int(), 64);
  EXPECT_EQ(t.params.at("model.layers").as_text(), "conv(32,3) relu");
  EXPECT_EQ(t.params.at("augment.hflip").type(), ParamType::boolean);
  EXPECT_EQ(t.param_hash, param_hash(sample_params()));
  EXPECT_EQ(t.world_size, 4);
  EXPECT_EQ(t.device, "cuda:0");
  EXPECT_EQ(t.host, this_host());
  EXPECT_EQ(t.pid, ::getpid());
  EXPECT_EQ(t.config_text, "[train]\nlr = 0.003\n");
  ASSERT_TRUE(t.best);
  EXPECT_EQ(t.best->metric, "val_accuracy");
  EXPECT_EQ(t.best->value, 0.7);
  EXPECT_EQ(t.best->epoch, 2);
  EXPECT_EQ(t.checkpoint_path.value_or(""), "runs/ckpt/1.h5");
  EXPECT_TRUE(t.ended_at);
  EXPECT_EQ(t.epochs, 3);
  EXPECT_EQ(t.final_metrics.at("val_accuracy"), 0.5 + 0.1 * 2.0);
  EXPECT_EQ(t.final_metrics.at("val_loss"), 1.0 / 3.0);
  EXPECT_EQ(t.final_metrics.at("train_loss"), 0.9 / 3.0) << "a step row must not replace the epoch value";

  // The params table holds one typed row per hyperparameter, queryable by SQL.
  EXPECT_EQ(count_rows(reader.connection(), "SELECT count(*) FROM params WHERE name = 'train.lr' AND value = 0.003"),
            1);

  const std::vector<std::string> names = {"val_accuracy"};
  const std::vector<int64_t> ids = {id};
  const auto series = reader.metric_series(ids, names);
  ASSERT_EQ(series.size(), 1u);
  ASSERT_EQ(series[0].points.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(series[0].points[e].epoch, static_cast<int64_t>(e));
    EXPECT_EQ(series[0].points[e].value, 0.5 + 0.1 * static_cast<double>(e));
  }
  const auto with_steps = reader.metric_series(ids, std::vector<std::string>{"train_loss"}, true);
  ASSERT_EQ(with_steps.size(), 1u);
  ASSERT_EQ(with_steps[0].points.size(), 4u);
  EXPECT_EQ(with_steps[0].points.back().step.value_or(-1), 1234);

  const auto decisions = reader.decisions({std::string("fmnist_lr"), id, true});
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].decision.kind, DecisionKind::keep);
  EXPECT_EQ(decisions[1].decision.kind, DecisionKind::early_stop);
  EXPECT_EQ(decisions[1].decision.checker, "early_stopping");
  EXPECT_EQ(decisions[1].decision.monitor, "val_loss");
  EXPECT_FALSE(decisions[1].decision.value) << "a missing monitored value stays missing";
  EXPECT_EQ(decisions[1].decision.best.value_or(0), 0.5);
  EXPECT_EQ(decisions[1].decision.wait, 3);
  EXPECT_EQ(decisions[1].decision.patience, 3);
  EXPECT_EQ(decisions[1].decision.reason, "patience");
  EXPECT_EQ(reader.decisions({std::string("fmnist_lr"), id, false}).size(), 1u);

  const auto evaluations = reader.evaluations(id);
  ASSERT_EQ(evaluations.size(), 1u);
  const Evaluation& e = evaluations[0];
  const Evaluation expected = sample_evaluation();
  EXPECT_EQ(e.split, "test");
  EXPECT_EQ(e.accuracy, expected.accuracy);
  EXPECT_EQ(e.loss, expected.loss);
  ASSERT_EQ(e.classes.size(), 2u);
  for (size_t c = 0; c < 2; ++c) {
    EXPECT_EQ(e.classes[c].name, expected.classes[c].name);
    EXPECT_EQ(e.classes[c].precision, expected.classes[c].precision);
    EXPECT_EQ(e.classes[c].recall, expected.classes[c].recall);
    EXPECT_EQ(e.classes[c].f1, expected.classes[c].f1);
    EXPECT_EQ(e.classes[c].support, expected.classes[c].support);
  }
  EXPECT_EQ(e.macro.f1, expected.macro.f1);
  EXPECT_EQ(e.weighted.precision, expected.weighted.precision);
  EXPECT_EQ(e.confusion, expected.confusion);
}

TEST_F(StoreTest, EvaluationOfTheSameSplitReplacesTheEarlierOne) {
  auto store = open();
  const int64_t id = store.start_trial(new_trial(store.ensure_experiment("e"), {}));
  Evaluation e = sample_evaluation();
  store.log_evaluation(id, e);
  e.accuracy = 0.9;
  e.confusion = {{10, 2}, {0, 8}};
  store.log_evaluation(id, e);
  e.split = "val";
  store.log_evaluation(id, e);
  const auto evaluations = store.evaluations(id);
  ASSERT_EQ(evaluations.size(), 2u);
  EXPECT_EQ(evaluations[0].split, "test");
  EXPECT_EQ(evaluations[0].accuracy, 0.9);
  EXPECT_EQ(evaluations[0].confusion[0][0], 10);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM evaluation_classes"), 4);
}

TEST_F(StoreTest, ConfusionMatrixMustBeSquareAndMatchTheClasses) {
  auto store = open();
  const int64_t id = store.start_trial(new_trial(store.ensure_experiment("e"), {}));
  Evaluation e = sample_evaluation();
  e.confusion = {{1, 2, 3}, {4, 5, 6}};
  EXPECT_THROW(store.log_evaluation(id, e), StoreError);
}

TEST_F(StoreTest, FinalMetricsFollowTheLastEpochAndNaNReadsBackAsNaN) {
  auto store = open();
  const int64_t id = store.start_trial(new_trial(store.ensure_experiment("e"), {}));
  // Out of order: epoch 4 first, then 2; the final value is epoch 4's.
  store.log_metrics(id, epoch_rows(4, 0.9, 0.1));
  store.log_metrics(id, epoch_rows(2, 0.7, 0.3));
  const MetricRow nan{"lr", 1, std::nullopt, std::numeric_limits<double>::quiet_NaN(), 0};
  store.log_metrics(id, std::span(&nan, 1));
  const TrialRecord t = store.trial(id);
  EXPECT_EQ(t.final_metrics.at("val_accuracy"), 0.9);
  EXPECT_EQ(t.epochs, 5);
  EXPECT_TRUE(std::isnan(t.final_metrics.at("lr")));
  EXPECT_EQ(store.metric_names(std::string_view("e")),
            (std::vector<std::string>{"lr", "train_loss", "val_accuracy", "val_loss"}));
}

TEST_F(StoreTest, ResumeDeletesLaterEpochsSoTheyAreLoggedOnce) {
  auto store = open();
  const int64_t id = store.start_trial(new_trial(store.ensure_experiment("e"), {{"train.lr", 0.1}}));
  for (int64_t epoch = 0; epoch < 5; ++epoch) {
    store.log_metrics(id, epoch_rows(epoch, 0.1 * static_cast<double>(epoch), 1.0));
    store.log_decision(id, {epoch, DecisionKind::keep, "early_stopping", "val_loss", 1.0, 1.0, 0, 3, ""});
  }
  store.set_best(id, {"val_accuracy", 0.4, 4, std::nullopt});
  store.log_evaluation(id, sample_evaluation());
  store.finish_trial(id, {TrialStatus::failed, std::nullopt, std::nullopt, std::string("killed")});

  // The checkpoint was written after epoch 2; epochs 3 and 4 are re-run.
  store.resume_trial(id, 2);
  TrialRecord t = store.trial(id);
  EXPECT_EQ(t.status, TrialStatus::running);
  EXPECT_EQ(t.attempts, 2);
  EXPECT_FALSE(t.error);
  EXPECT_FALSE(t.best) << "the best epoch (4) is after the resume point";
  EXPECT_EQ(t.epochs, 3);
  EXPECT_EQ(t.final_metrics.at("val_accuracy"), 0.1 * 2.0) << "final_metrics must fall back to epoch 2";
  EXPECT_TRUE(store.evaluations(id).empty());
  for (int64_t epoch = 3; epoch < 5; ++epoch) {
    store.log_metrics(id, epoch_rows(epoch, 0.2 * static_cast<double>(epoch), 1.0));
    store.log_decision(id, {epoch, DecisionKind::keep, "early_stopping", "val_loss", 1.0, 1.0, 0, 3, ""});
  }
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM metrics"), 5 * 3);
  EXPECT_EQ(
      count_rows(store.connection(),
                 "SELECT count(*) FROM (SELECT 1 FROM metrics GROUP BY trial_id, name, epoch HAVING count(*) > 1)"),
      0);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM decisions"), 5);
  EXPECT_EQ(store.trial(id).final_metrics.at("val_accuracy"), 0.2 * 4.0);

  store.resume_trial(id, -1);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM metrics"), 0);
  EXPECT_EQ(store.trial(id).epochs, 0);
  EXPECT_TRUE(store.trial(id).final_metrics.empty());
}

TEST_F(StoreTest, ClaimTakesANewPointOnceAndRetriesOnlyFailedOnes) {
  auto store = open();
  const int64_t experiment = store.ensure_experiment("grid");
  const NewTrial point = new_trial(experiment, {{"train.lr", 0.01}, {"data.batch_size", 32}});
  const auto first = store.claim_trial(point, true);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->reclaimed);
  EXPECT_FALSE(store.claim_trial(point, true)) << "a running trial of a live process is not claimed again";
  // 1 and 1.0 are the same point of the grid.
  EXPECT_FALSE(store.claim_trial(new_trial(experiment, {{"train.lr", 0.01}, {"data.batch_size", 32.0}}), true));

  store.set_checkpoint(first->trial_id, "ckpt/a.h5");
  store.finish_trial(first->trial_id, {TrialStatus::failed, std::nullopt, std::nullopt, std::string("oom")});
  EXPECT_FALSE(store.claim_trial(point, false)) << "failed trials are retried only when asked";
  const auto retry = store.claim_trial(point, true);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->trial_id, first->trial_id);
  EXPECT_TRUE(retry->reclaimed);
  EXPECT_EQ(retry->previous_status, TrialStatus::failed);
  EXPECT_EQ(retry->checkpoint_path.value_or(""), "ckpt/a.h5");
  store.finish_trial(first->trial_id, {TrialStatus::completed, std::nullopt, std::nullopt, std::nullopt});
  EXPECT_FALSE(store.claim_trial(point, true)) << "a completed trial is never claimed again";
  EXPECT_EQ(store.trials().size(), 1u);
  EXPECT_EQ(store.find_trial(experiment, param_hash(point.params))->id, first->trial_id);
}

TEST_F(StoreTest, TrialOfAnotherHostWithoutHeartbeatIsFailedForReadersAndWriters) {
  {
    auto store = open();
    const int64_t id = store.start_trial({store.ensure_experiment("e"), {}, 1, "cpu", "elsewhere", 4242, ""});
    sqlite::execute(store.connection(),
                    "UPDATE trials SET heartbeat_at = heartbeat_at - 1000 WHERE id = " + std::to_string(id));
  }
  {
    // A reader cannot write the verdict but reports it.
    auto reader = open(Access::read_only);
    const auto trials = reader.trials();
    ASSERT_EQ(trials.size(), 1u);
    EXPECT_EQ(trials[0].status, TrialStatus::failed);
    EXPECT_NE(trials[0].error.value_or("").find("no heartbeat"), std::string::npos);
    EXPECT_EQ(reader.experiments()[0].trials_by_status.count(TrialStatus::running), 0u);
    EXPECT_EQ(reader.experiments()[0].trials_by_status.at(TrialStatus::failed), 1);
    EXPECT_EQ(count_rows(reader.connection(), "SELECT count(*) FROM trials WHERE status = 'running'"), 1);
  }
  auto writer = open();
  EXPECT_EQ(count_rows(writer.connection(), "SELECT count(*) FROM trials WHERE status = 'failed'"), 1)
      << "opening read-write marks the dead trial failed";
}

TEST_F(StoreTest, HeartbeatRevivesATrialReapedWhileItsProcessWasStillWorking) {
  auto store = open();
  const int64_t id = store.start_trial(new_trial(store.ensure_experiment("e"), {}));
  sqlite::execute(store.connection(),
                  "UPDATE trials SET heartbeat_at = heartbeat_at - 1000 WHERE id = " + std::to_string(id));
  EXPECT_EQ(store.reap_dead_trials(), std::vector<int64_t>{id});
  EXPECT_EQ(store.trial(id).status, TrialStatus::failed);
  store.heartbeat(id);
  EXPECT_EQ(store.trial(id).status, TrialStatus::running);
}

TEST_F(StoreTest, WritesOnAReadOnlyStoreAndUnknownTrialsAreErrors) {
  { open().ensure_experiment("e"); }
  auto reader = open(Access::read_only);
  EXPECT_THROW(reader.ensure_experiment("f"), StoreError);
  auto writer = open();
  EXPECT_THROW(writer.log_metrics(999, epoch_rows(0, 0, 0)), StoreError);
  EXPECT_THROW(writer.trial(999), StoreError);
  EXPECT_THROW(writer.finish_trial(999, {}), StoreError);
  EXPECT_THROW(writer.start_trial(new_trial(12345, {})), StoreError);
}

}  // namespace
}  // namespace stride::tracker::testing
