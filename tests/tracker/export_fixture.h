// The store the export tests share: experiment "sweep" with a completed
// trial (a NaN among its losses, an evaluation), a pruned, a failed and a
// running one, and an experiment whose name would climb out of a directory;
// helpers that run the reader scripts with .venv-test's Python.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture.h"
#include "process.h"
#include "stride/tracker/export.h"

namespace stride::tracker::testing {

namespace fs = std::filesystem;
using stride::testing::read_text;

constexpr const char* kLayers =
    "conv(32,3,padding=same) bn relu conv(32,3,padding=same) bn relu maxpool(2) dropout(0.25) flatten dense(10)";

class ExportTest : public StoreTest {
 protected:
  void SetUp() override {
    auto store = open();
    const int64_t sweep = store.ensure_experiment("sweep");
    add_trial(store, sweep, 0.01, TrialStatus::completed, {0.5, NAN, 0.3});
    add_trial(store, sweep, 0.1, TrialStatus::pruned, {0.9, 0.8});
    add_trial(store, sweep, 0.3, TrialStatus::failed, {1.2});
    add_trial(store, sweep, 0.03, TrialStatus::running, {0.7});
    // A name that would climb out of the export directory.
    const int64_t odd = store.ensure_experiment("../../escape");
    add_trial(store, odd, 0.5, TrialStatus::completed, {0.4});
    Evaluation e;
    e.accuracy = 0.9;
    e.classes = {{"cat", 0.9, 0.9, 0.9, 10}, {"dog", 0.9, 0.9, 0.9, 10}};
    e.confusion = {{9, 1}, {1, 9}};
    store.log_evaluation(1, e);
  }

  void add_trial(Store& store, int64_t experiment, double lr, TrialStatus status, std::vector<double> losses) {
    NewTrial trial = new_trial(experiment, {{"train.lr", lr},
                                            {"data.batch_size", 32},
                                            {"augment.hflip", true},
                                            {"model.layers", kLayers},
                                            {"stride.commit", "0123456789abcdef0123456789abcdef01234567+modified"},
                                            {"odd/name<1>", "x"}});
    trial.config_text = fmt::format("[train]\nlr = {}\n", lr);
    const int64_t id = store.start_trial(trial);
    for (size_t epoch = 0; epoch < losses.size(); ++epoch)
      store.log_metrics(id, std::vector<MetricRow>{{"val_loss", int64_t(epoch), std::nullopt, losses[epoch], 0},
                                                   {"lr", int64_t(epoch), std::nullopt, lr, 0}});
    store.set_checkpoint(id, fmt::format("runs/checkpoints/trial-{}.h5", id));
    if (status == TrialStatus::running) return;
    std::optional<std::string> error;
    if (status == TrialStatus::failed) error = "loss became NaN";
    store.finish_trial(
        id, {status, BestMetric{"val_loss", losses.back(), int64_t(losses.size()) - 1, {}}, std::nullopt, error});
  }

  // Whether .venv-test has `module` (tests skip, saying so, when it does not).
  static bool have_python_module(const std::string& module) {
    const std::string python = STRIDE_TEST_PYTHON;
    if (!fs::exists(python)) return false;
    const std::string probe =
        "import importlib.util, sys; sys.exit(importlib.util.find_spec('" + module + "') is None)";
    return stride::testing::run_process({python, "-c", probe}) == 0;
  }

  // Runs a script of tests/tracker with .venv-test's Python; its stdout parsed as JSON.
  nlohmann::json run_script(const std::string& script, const std::vector<std::string>& arguments) {
    std::string command = fmt::format("'{}' '{}/{}'", STRIDE_TEST_PYTHON, STRIDE_TEST_SCRIPTS, script);
    for (const auto& a : arguments) command += " '" + a + "'";
    const fs::path out = dir_ / (script + ".json"), err = dir_ / (script + ".err");
    const int status = stride::testing::run_process(
        {"/bin/sh", "-c", command + " > '" + out.string() + "' 2> '" + err.string() + "'"});
    EXPECT_EQ(status, 0) << script << ":\n" << read_text(err);
    return nlohmann::json::parse(read_text(out), nullptr, /*allow_exceptions=*/false);
  }

  std::optional<nlohmann::json> read_back(const std::string& script, const std::string& module,
                                          const std::string& argument) {
    if (!have_python_module(module)) return std::nullopt;
    return run_script(script, {argument});
  }

  // Per-epoch (step, value) of one metric of one trial, as the store has it.
  std::vector<std::pair<int64_t, double>> curve(Store& store, int64_t trial, const std::string& name) {
    const std::vector<int64_t> ids = {trial};
    const std::vector<std::string> names = {name};
    std::vector<std::pair<int64_t, double>> points;
    for (const auto& series : store.metric_series(ids, names))
      for (const auto& p : series.points) points.emplace_back(p.epoch, p.value);
    return points;
  }
};

inline bool has(const nlohmann::json& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

inline void expect_points(const nlohmann::json& got, const std::vector<std::pair<int64_t, double>>& want,
                          double tolerance, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what << ": " << got.dump();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i][0].get<int64_t>(), want[i].first) << what;
    if (std::isnan(want[i].second))
      EXPECT_TRUE(got[i][1].is_null()) << what << " epoch " << want[i].first;
    else
      EXPECT_NEAR(got[i][1].get<double>(), want[i].second, tolerance) << what << " epoch " << want[i].first;
  }
}

}  // namespace stride::tracker::testing
