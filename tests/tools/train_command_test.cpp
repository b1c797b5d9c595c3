// `stride train` at the edges a first run meets: a config that does not
// build leaves the store as it was; --resume of a trial that died before its
// first checkpoint starts it over (and says so); every resolved parameter and
// the code version are recorded, so --where finds trials by their defaults.
#include <gtest/gtest.h>

#include <fstream>

#include "process.h"
#include "run/train_context.h"
#include "stride/tracker/report.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

using testing::read_text;

class TrainCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_ / "data", {.train = 256, .val = 64, .test = 64});
    std::ofstream(dir_ / "run.ini") << "[experiment]\nname = t\nseed = 3\n[data]\ndir = " << (dir_ / "data").string()
                                    << "\nbatch_size = 32\nworkers = 1\n[model]\nlayers = conv(4,3) relu flatten "
                                       "dense(4)\n[train]\nepochs = 2\nthreads = 1\ncheckpoint_dir = "
                                    << (dir_ / "ckpt").string() << "\n";
  }

  int train(const std::vector<std::string>& extra, const std::string& log) const {
    std::vector<std::string> args = {STRIDE_BINARY, "train", "--config",     (dir_ / "run.ini").string(),
                                     "--db",        db(),    "--no-progress"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::run_process(args, dir_ / log);
  }
  std::string db() const { return (dir_ / "store.db").string(); }

  testing::TempDir dir_;
};

TEST_F(TrainCommandTest, AConfigThatDoesNotBuildCreatesNoExperiment) {
  for (const char* bad : {"train.optimizer=adamm", "train.schedule=cosin", "reduce_lr.patience=-1",
                          "model.layers=conv(4,3) dense(5)", "model.input_shape=28x28x1"}) {
    EXPECT_EQ(1, train({"--set", bad}, "bad.log")) << bad;
    EXPECT_FALSE(std::filesystem::exists(db())) << bad << ": " << read_text(dir_ / "bad.log");
    std::filesystem::remove(db());
  }
  const std::string log = read_text(dir_ / "bad.log");
  EXPECT_NE(log.find("model.input_shape = 28x28x1: the images of"), std::string::npos) << log;
}

TEST_F(TrainCommandTest, ResumeOfATrialKilledBeforeItsFirstCheckpointStartsItOver) {
  {
    // What a run killed in its first epoch leaves: the trial, no checkpoint; its process gone.
    const Config config = Config::load(dir_ / "run.ini");
    auto store = tracker::Store::open(db());
    tracker::NewTrial trial;
    trial.experiment_id = store.ensure_experiment("t");
    trial.params = trial_params(config, 1);
    trial.identity = trial_identity(config, 1);
    const int64_t id = store.start_trial(trial);
    store.log_metrics(id, std::vector<tracker::MetricRow>{{"train_loss", 0, int64_t{3}, 1.5, 0}});
    store.finish_trial(id, {tracker::TrialStatus::failed, std::nullopt, std::nullopt,
                            std::string("reaped: process 1 on this host is gone")});
  }
  ASSERT_EQ(0, train({"--resume"}, "resume.log")) << read_text(dir_ / "resume.log");
  const std::string log = read_text(dir_ / "resume.log");
  EXPECT_NE(log.find("trial 1 has no checkpoint yet; starting it again from epoch 1"), std::string::npos) << log;
  auto store = tracker::Store::open(db(), tracker::Access::read_only);
  ASSERT_EQ(store.trials().size(), 1u);
  const tracker::TrialRecord t = store.trial(1);
  EXPECT_EQ(t.status, tracker::TrialStatus::completed);
  EXPECT_EQ(t.attempts, 2);
  EXPECT_EQ(t.epochs, 2);
  EXPECT_TRUE(t.final_metrics.count("test_accuracy"));
  const std::vector<int64_t> ids = {1};
  for (const auto& series : store.metric_series(ids, {}, /*with_steps=*/true))
    for (const auto& point : series.points) EXPECT_FALSE(point.step) << "a row of the dead run survived";
}

TEST_F(TrainCommandTest, EveryResolvedParameterAndTheCodeAreRecorded) {
  ASSERT_EQ(0, train({}, "train.log")) << read_text(dir_ / "train.log");
  auto store = tracker::Store::open(db(), tracker::Access::read_only);
  const tracker::TrialRecord t = store.trial(1);
  // Left at their defaults, recorded all the same.
  EXPECT_EQ(t.params.at("train.optimizer").as_text(), "adam");
  EXPECT_EQ(t.params.at("augment.hflip").as_bool(), false);
  EXPECT_EQ(t.params.at("data.dir").as_text(), (dir_ / "data").string());
  EXPECT_EQ(t.params.at("train.threads").as_int(), 1);
  EXPECT_EQ(t.params.at("stride.commit").as_text().size() >= 7, true) << t.params.at("stride.commit").to_string();
  EXPECT_FALSE(t.params.at("stride.version").as_text().empty());
  EXPECT_FALSE(t.host.empty());
  tracker::report::TrialsOptions options;
  options.where = {"data.dir = " + (dir_ / "data").string(), "train.beta1 = 0.9"};
  EXPECT_EQ(tracker::report::leaderboard(store, options).trials.size(), 1u);
}

TEST_F(TrainCommandTest, FineTuningNamesTheBestTrialOfAnExperimentNotAPath) {
  ASSERT_EQ(0, train({"--set", "train.lr=0.0001"}, "a.log")) << read_text(dir_ / "a.log");
  ASSERT_EQ(0, train({"--set", "train.lr=0.01"}, "b.log")) << read_text(dir_ / "b.log");
  std::string best_checkpoint;
  {
    auto store = tracker::Store::open(db(), tracker::Access::read_only);
    const auto a = store.trial(1), b = store.trial(2);
    ASSERT_TRUE(a.best && b.best);
    best_checkpoint = *(a.best->value > b.best->value ? a : b).checkpoint_path;
  }
  const auto out = dir_ / "best.txt";
  ASSERT_EQ(0, testing::run_process(
                   {"/bin/sh", "-c",
                    std::string(STRIDE_BINARY) + " report best --experiment t --db " + db() + " > " + out.string()}));
  EXPECT_EQ(read_text(out), best_checkpoint + "\n");
  // Every command that takes a checkpoint takes the name.
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"summary", "--checkpoint", "best:t"},
        std::vector<std::string>{"eval", "--checkpoint", "best:t", "--data", (dir_ / "data").string()},
        std::vector<std::string>{"export", "--checkpoint", "best:t", "--out", (dir_ / "best.onnx").string()}}) {
    std::vector<std::string> args = {STRIDE_BINARY};
    args.insert(args.end(), command.begin(), command.end());
    args.insert(args.end(), {"--db", db()});
    EXPECT_EQ(0, testing::run_process(args, dir_ / "named.log")) << command[0] << ": " << read_text(dir_ / "named.log");
  }

  ASSERT_EQ(0, train({"--set", "experiment.name=head", "--set", "model.init_from=best:t", "--set", "train.epochs=1"},
                     "head.log"))
      << read_text(dir_ / "head.log");
  EXPECT_NE(read_text(dir_ / "head.log").find("from " + best_checkpoint), std::string::npos)
      << read_text(dir_ / "head.log");
  auto store = tracker::Store::open(db(), tracker::Access::read_only);
  const tracker::TrialRecord head = store.trial(3);
  EXPECT_EQ(head.params.at("model.init_from").as_text(), "best:t");
  EXPECT_EQ(head.params.at("model.init_from_path").as_text(), best_checkpoint);
}

}  // namespace
}  // namespace stride::tools
