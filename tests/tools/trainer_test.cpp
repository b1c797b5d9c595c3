// The trainer end to end on a small synthetic dataset: it learns, validates,
// tests, checkpoints and records the trial; early stopping and fine-tuning
// behave as configured.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstring>
#include <filesystem>

#include "run/trainer.h"
#include "stride/core/checkpoint.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_synthetic_dataset(dir_ / "data"); }

  TrainRequest request(const std::string& extra = "") const {
    TrainRequest r;
    r.config = Config::from_text(
        "[experiment]\nname = unit\nseed = 3\n[data]\nbatch_size = 16\nworkers = 1\n"
        "[model]\nlayers = conv(8,3) relu maxpool(2) flatten dense(4)\n[train]\nepochs = 3\nlr = 0.01\nthreads = 1\n" +
            extra,
        "test.ini");
    r.config.set("data.dir", (dir_ / "data").string(), "test");
    r.config.set("train.checkpoint_dir", (dir_ / "ckpt").string(), "test");
    r.db_path = (dir_ / "store.db").string();
    r.progress_on_terminal = false;
    return r;
  }

  testing::TempDir dir_;
};

TEST_F(TrainerTest, LearnsAndRecordsEveryEpoch) {
  const TrainResult result = train(request());
  EXPECT_EQ(result.status, tracker::TrialStatus::completed);
  EXPECT_EQ(result.epochs, 3);
  EXPECT_GT(result.final_metrics.at("test_accuracy"), 0.9);
  EXPECT_TRUE(std::filesystem::exists(result.checkpoint));

  auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
  const tracker::TrialRecord trial = store.trial(result.trial_id);
  EXPECT_EQ(trial.status, tracker::TrialStatus::completed);
  EXPECT_EQ(trial.experiment, "unit");
  EXPECT_EQ(trial.epochs, 3);
  EXPECT_DOUBLE_EQ(trial.params.at("train.lr").as_double(), 0.01);
  for (const char* name : {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "images_per_s",
                           "data_wait_fraction", "test_accuracy"})
    EXPECT_EQ(trial.final_metrics.count(name), 1u) << name;
  const std::vector<int64_t> ids = {result.trial_id};
  const std::vector<std::string> names = {"val_loss"};
  const auto series = store.metric_series(ids, names);
  ASSERT_EQ(series.size(), 1u);
  ASSERT_EQ(series[0].points.size(), 3u);
  EXPECT_LT(series[0].points[2].value, series[0].points[0].value);  // it learns
  ASSERT_EQ(store.evaluations(result.trial_id).size(), 1u);
  EXPECT_EQ(store.evaluations(result.trial_id)[0].confusion.size(), 4u);

  const CheckpointInfo info = read_checkpoint_info(result.checkpoint);
  ASSERT_TRUE(info.state.has_value());
  EXPECT_EQ(info.state->epoch, 3);
  EXPECT_EQ(info.model.classes, 4);
}

TEST_F(TrainerTest, EarlyStoppingStopsAndLogsEveryCheck) {
  // min_delta so large that nothing after the first epoch counts as improvement.
  const TrainResult result =
      train(request("[early_stopping]\nmonitor = val_loss\npatience = 1\nmin_delta = 100\nrestore_best = true\n"));
  EXPECT_EQ(result.status, tracker::TrialStatus::stopped_early);
  EXPECT_EQ(result.epochs, 2);
  auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
  tracker::DecisionQuery query;
  query.trial_id = result.trial_id;
  const auto decisions = store.decisions(query);
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].decision.kind, tracker::DecisionKind::keep);
  EXPECT_EQ(decisions[1].decision.kind, tracker::DecisionKind::early_stop);
  EXPECT_EQ(decisions[1].decision.wait, 1);
  EXPECT_EQ(store.trial(result.trial_id).status, tracker::TrialStatus::stopped_early);
}

TEST_F(TrainerTest, FineTuningTakesTheBaseAndFreezesIt) {
  const TrainResult base = train(request());
  TrainRequest tune = request("[model]\ninit_from = " + base.checkpoint + "\nfreeze = all_but_head\n");
  tune.config.set("experiment.name", "tuned", "test");
  tune.config.set("train.epochs", "1", "test");
  const TrainResult tuned = train(tune);
  EXPECT_EQ(tuned.status, tracker::TrialStatus::completed);
  // The frozen convolution is bitwise the base's.
  auto backend = make_cpu_backend(1);
  const CheckpointInfo info = read_checkpoint_info(base.checkpoint);
  Model a = Model::from_spec(info.model.spec, info.model.input);
  Model b = Model::from_spec(info.model.spec, info.model.input);
  a.init(*backend, 1);
  b.init(*backend, 2);
  load_model_state(base.checkpoint, a);
  load_model_state(tuned.checkpoint, b);
  const Tensor& ka = a.layer_parameters(0)[0]->value;
  const Tensor& kb = b.layer_parameters(0)[0]->value;
  ASSERT_EQ(ka.elements(), kb.elements());
  EXPECT_EQ(0, std::memcmp(ka.f32(), kb.f32(), ka.bytes()));
  const Tensor& ha = a.layer_parameters(4)[0]->value;
  const Tensor& hb = b.layer_parameters(4)[0]->value;
  EXPECT_NE(0, std::memcmp(ha.f32(), hb.f32(), ha.bytes()));  // the head trained
}

TEST_F(TrainerTest, DivergedLossEndsTheTrialAsFailedWithATerminateOnNanDecision) {
  // SGD at lr 1e35: the first update sends the weights past float range, so
  // the loss turns inf or NaN on the next step.
  TrainRequest r = request("optimizer = sgd\n[early_stopping]\npatience = 5\n");
  r.config.set("train.lr", "1e35", "test");
  const TrainResult result = train(r);
  EXPECT_EQ(result.status, tracker::TrialStatus::failed);
  EXPECT_EQ(result.epochs, 1);
  ASSERT_TRUE(result.error.has_value());
  EXPECT_TRUE(result.error->starts_with("train_loss is NaN in epoch 1") ||
              result.error->starts_with("train_loss is inf in epoch 1"))
      << *result.error;
  EXPECT_NE(result.error->find("diverged"), std::string::npos) << *result.error;

  auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
  const tracker::TrialRecord trial = store.trial(result.trial_id);
  EXPECT_EQ(trial.status, tracker::TrialStatus::failed);
  ASSERT_TRUE(trial.error.has_value());
  EXPECT_EQ(*trial.error, *result.error);
  tracker::DecisionQuery query;
  query.trial_id = result.trial_id;
  const auto decisions = store.decisions(query);
  ASSERT_EQ(decisions.size(), 1u);  // the other checks do not run on a diverged epoch
  EXPECT_EQ(decisions[0].decision.checker, "terminate_on_nan");
  EXPECT_EQ(decisions[0].decision.kind, tracker::DecisionKind::early_stop);
  EXPECT_EQ(decisions[0].decision.monitor, "train_loss");
  // No checkpoint of diverged weights: the trial had no finite epoch to keep.
  EXPECT_FALSE(trial.checkpoint_path.has_value());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ckpt" / "unit" / fmt::format("trial-{}.h5", result.trial_id)));
}

TEST_F(TrainerTest, AQueuePastTheMachineIsRefusedBeforeAnythingIsAllocatedOrRecorded) {
  TrainRequest r = request();
  r.config.set("data.prefetch", "2000000000", "--set");
  try {
    train(r);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("data.prefetch = 2000000000"), std::string::npos) << message;
    EXPECT_NE(message.find("bytes"), std::string::npos) << message;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "store.db"));  // no trial recorded
}

TEST_F(TrainerTest, ResumeWithoutATrialIsAClearError) {
  TrainRequest r = request();
  r.resume = true;
  try {
    train(r);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stride::tools
