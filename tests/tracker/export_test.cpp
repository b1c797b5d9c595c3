// `stride report export`: the MLflow and TensorBoard exports read back by the
// real tools (mlflow and tensorboard from PyPI, in .venv-test; skipped with
// the reason when it is missing) hold what the store holds: every
// experiment, every trial with every parameter, status and tags, every
// per-epoch metric at its epoch. Reruns replace what they wrote, names from
// the store never reach outside the export directory, and another program's
// MLflow experiment is never overwritten.
#include "export_fixture.h"

namespace stride::tracker::testing {
namespace {

TEST_F(ExportTest, MlflowReadsEveryTrialWithItsParamsMetricsStatusAndTags) {
  auto store = open(Access::read_only);
  const ExportSummary summary = export_mlflow(store, dir_ / "mlruns");
  EXPECT_EQ(summary.experiments, 2);
  EXPECT_EQ(summary.trials, 5);
  const auto seen = read_back("read_mlflow.py", "mlflow", "file://" + (dir_ / "mlruns").string());
  if (!seen) GTEST_SKIP() << "mlflow is not installed in " << STRIDE_TEST_PYTHON << " (run tools/setup.sh test)";
  ASSERT_FALSE(seen->is_discarded());
  EXPECT_EQ((*seen)["experiments"], nlohmann::json({"../../escape", "Default", "sweep"}));
  ASSERT_EQ((*seen)["runs"].size(), 5u);
  // MLflow's statuses for Stride's: completed FINISHED, pruned KILLED, failed FAILED, running RUNNING.
  const std::map<TrialStatus, std::string> mlflow_status = {{TrialStatus::completed, "FINISHED"},
                                                            {TrialStatus::stopped_early, "FINISHED"},
                                                            {TrialStatus::pruned, "KILLED"},
                                                            {TrialStatus::failed, "FAILED"},
                                                            {TrialStatus::running, "RUNNING"}};
  for (const auto& run : (*seen)["runs"]) {
    const std::string name = run["name"];
    const int64_t id = std::stoll(name.substr(name.find('-') + 1));
    const TrialRecord t = store.trial(id);
    SCOPED_TRACE(name);
    EXPECT_EQ(run["experiment"].get<std::string>(), t.experiment);
    EXPECT_EQ(run["status"].get<std::string>(), mlflow_status.at(t.status));
    EXPECT_EQ(run["start_time"].get<int64_t>(), std::llround(t.started_at * 1000));
    if (t.ended_at)
      EXPECT_EQ(run["end_time"].get<int64_t>(), std::llround(*t.ended_at * 1000));
    else
      EXPECT_TRUE(run["end_time"].is_null());
    // Every parameter, by its name (MLflow's rules turn the odd one's '/', '<', '>' into '_').
    ASSERT_EQ(run["params"].size(), t.params.size());
    for (const auto& [param, value] : t.params) {
      const std::string key = param == "odd/name<1>" ? "odd_name_1_" : param;
      EXPECT_EQ(run["params"].value(key, "<missing>"), value.to_string()) << param;
    }
    EXPECT_EQ(run["tags"]["mlflow.runName"], name);
    EXPECT_EQ(run["tags"]["stride.trial_id"], std::to_string(t.id));
    EXPECT_EQ(run["tags"]["stride.status"], std::string(status_name(t.status)));
    EXPECT_EQ(run["tags"]["stride.checkpoint"], *t.checkpoint_path);
    EXPECT_EQ(run["tags"]["mlflow.source.git.commit"], "0123456789abcdef0123456789abcdef01234567");
    if (t.error) {
      EXPECT_EQ(run["tags"]["stride.error"], *t.error);
    }
    expect_points(run["metrics"]["val_loss"], curve(store, id, "val_loss"), 1e-12, "val_loss");
    expect_points(run["metrics"]["lr"], curve(store, id, "lr"), 1e-12, "lr");
    EXPECT_TRUE(has(run["frame_columns"], "params.train.lr")) << run["frame_columns"].dump();
    EXPECT_TRUE(has(run["artifacts"], "config.ini")) << run["artifacts"].dump();
    if (id == 1) {
      EXPECT_TRUE(has(run["artifacts"], "evaluation-test.json")) << run["artifacts"].dump();
    }
  }
}

TEST_F(ExportTest, MlflowRerunReplacesItsRunsAndRefusesAnotherProgramsExperiment) {
  auto store = open(Access::read_only);
  export_mlflow(store, dir_ / "mlruns");
  const fs::path sweep = dir_ / "mlruns" / "1";
  auto runs = [&] {
    size_t n = 0;
    for (const auto& entry : fs::directory_iterator(sweep))
      n += entry.is_directory() && entry.path().filename() != "tags";
    return n;
  };
  ASSERT_EQ(runs(), 4u);
  export_mlflow(store, dir_ / "mlruns");
  EXPECT_EQ(runs(), 4u) << "a rerun added runs";
  // Names stay inside: the odd experiment is experiment directory 2, and nothing was written beside the export.
  EXPECT_TRUE(fs::exists(dir_ / "mlruns" / "2" / "meta.yaml"));
  for (const auto& entry : fs::directory_iterator(dir_.path()))
    EXPECT_TRUE(entry.path().filename() == "mlruns" || entry.path().filename() == "runs") << entry.path();

  // Someone else's MLflow experiment 1 is not ours to replace.
  fs::remove_all(sweep);
  fs::create_directories(sweep);
  std::ofstream(sweep / "meta.yaml") << "experiment_id: '1'\nname: their-experiment\n";
  try {
    export_mlflow(store, dir_ / "mlruns");
    ADD_FAILURE() << "overwrote another program's experiment";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("their-experiment"), std::string::npos) << e.what();
  }
  EXPECT_NE(read_text(sweep / "meta.yaml").find("their-experiment"), std::string::npos);
}

TEST_F(ExportTest, TensorboardReadsAScalarPerMetricPerEpochForEveryTrial) {
  auto store = open(Access::read_only);
  export_tensorboard(store, dir_ / "tb");
  export_tensorboard(store, dir_ / "tb");  // a rerun replaces, never adds a second copy
  for (const auto& entry : fs::directory_iterator(dir_.path()))
    EXPECT_TRUE(entry.path().filename() == "tb" || entry.path().filename() == "runs") << entry.path();
  const auto seen = read_back("read_tensorboard.py", "tensorboard", (dir_ / "tb").string());
  if (!seen) GTEST_SKIP() << "tensorboard is not installed in " << STRIDE_TEST_PYTHON << " (run tools/setup.sh test)";
  ASSERT_FALSE(seen->is_discarded());
  const auto& runs = (*seen)["runs"];
  ASSERT_EQ(runs.size(), 5u) << runs.dump();
  for (const TrialRecord& t : store.trials()) {
    // The odd experiment name became one safe directory.
    const std::string run = (t.experiment == "sweep" ? "sweep" : ".._.._escape") + fmt::format("/trial-{}", t.id);
    ASSERT_TRUE(runs.contains(run)) << run << " in " << runs.dump();
    SCOPED_TRACE(run);
    EXPECT_EQ(runs[run]["files"], 1);
    EXPECT_EQ(runs[run]["file_version"], nlohmann::json({"brain.Event:2"}));
    // float32 scalars: compared at float precision.
    expect_points(runs[run]["scalars"]["val_loss"], curve(store, t.id, "val_loss"), 1e-6, "val_loss");
    expect_points(runs[run]["scalars"]["lr"], curve(store, t.id, "lr"), 1e-6, "lr");
  }
}

TEST_F(ExportTest, TheCommandExportsAndNamesWhatItCannot) {
  const fs::path log = dir_ / "export.log";
  ASSERT_EQ(0, stride::testing::run_process({STRIDE_BINARY, "report", "export", "--format", "tensorboard", "--out",
                                             (dir_ / "tb").string(), "--db", db_path(), "--experiment", "sweep"},
                                            log))
      << read_text(log);
  EXPECT_NE(read_text(log).find("wrote 4 trials of 1 experiments"), std::string::npos) << read_text(log);
  EXPECT_TRUE(fs::exists(dir_ / "tb" / "sweep" / "trial-4"));
  EXPECT_FALSE(fs::exists(dir_ / "tb" / ".._.._escape"));
  EXPECT_EQ(1, stride::testing::run_process({STRIDE_BINARY, "report", "export", "--format", "wandb", "--out",
                                             (dir_ / "x").string(), "--db", db_path()},
                                            dir_ / "bad.log"));
  EXPECT_NE(read_text(dir_ / "bad.log").find("expected mlflow or tensorboard"), std::string::npos);
  EXPECT_EQ(1, stride::testing::run_process(
                   {STRIDE_BINARY, "report", "export", "--format", "mlflow", "--db", db_path()}, dir_ / "noout.log"));
  EXPECT_NE(read_text(dir_ / "noout.log").find("--out"), std::string::npos);
}

}  // namespace
}  // namespace stride::tracker::testing
