// best:EXPERIMENT and latest:EXPERIMENT name finished trials of one
// experiment whatever their ids: best by each trial's recorded best metric,
// latest by when it ended; failed, pruned and running trials never qualify.
#include <fmt/format.h>

#include <fstream>

#include "fixture.h"
#include "stride/tracker/pick.h"

namespace stride::tracker::testing {
namespace {

class PickTest : public StoreTest {
 protected:
  // Another experiment's trial first, so ids and paths do not line up with "trial-1".
  void SetUp() override {
    auto store = open();
    add(store, "other", TrialStatus::completed, 0.99);
    add(store, "base", TrialStatus::completed, 0.80);      // 2
    add(store, "base", TrialStatus::completed, 0.90);      // 3: best
    add(store, "base", TrialStatus::failed, 0.95);         // 4: better, but failed
    add(store, "base", TrialStatus::pruned, 0.97);         // 5: pruned
    add(store, "base", TrialStatus::stopped_early, 0.85);  // 6: latest to end
    add(store, "base", TrialStatus::running, 0.99);        // 7: still running
  }

  void add(Store& store, const std::string& experiment, TrialStatus status, double best) {
    const int64_t id = store.start_trial(new_trial(store.ensure_experiment(experiment), {{"n", ++count_}}));
    const std::string checkpoint = (dir_ / ("trial-" + std::to_string(id) + ".h5")).string();
    std::ofstream(checkpoint) << "weights";
    store.set_checkpoint(id, checkpoint);
    store.set_best(id, {"val_accuracy", best, 1, Goal::maximize});
    if (status != TrialStatus::running) store.finish_trial(id, {status});
  }
  std::string checkpoint_of(int64_t id) const { return (dir_ / ("trial-" + std::to_string(id) + ".h5")).string(); }

  int64_t count_ = 0;
};

TEST_F(PickTest, BestAndLatestAreFinishedTrialsOfTheExperiment) {
  auto store = open(Access::read_only);
  ASSERT_TRUE(pick_trial(store, "base", Pick::best));
  EXPECT_EQ(pick_trial(store, "base", Pick::best)->id, 3);
  EXPECT_EQ(pick_trial(store, "base", Pick::latest)->id, 6);
  EXPECT_EQ(resolve_checkpoint("best:base", db_path()), checkpoint_of(3));
  EXPECT_EQ(resolve_checkpoint("latest:base", db_path()), checkpoint_of(6));
  EXPECT_EQ(resolve_checkpoint("runs/x.h5", db_path()), "runs/x.h5");  // a path stays a path
}

TEST_F(PickTest, ABestMetricToMinimiseRanksLowestFirst) {
  {
    auto store = open();
    for (double loss : {0.4, 0.2, 0.3}) {
      const int64_t id = store.start_trial(new_trial(store.ensure_experiment("losses"), {{"loss", loss}}));
      store.set_checkpoint(id, fmt::format("c{}", id));
      store.finish_trial(id, {TrialStatus::completed, BestMetric{"val_loss", loss, 0, Goal::minimize}});
    }
  }
  auto store = open(Access::read_only);
  EXPECT_DOUBLE_EQ(pick_trial(store, "losses", Pick::best)->best->value, 0.2);
}

TEST_F(PickTest, NoQualifyingTrialIsAnErrorNamingTheExperiment) {
  { open().ensure_experiment("empty"); }
  auto message = [&](const std::string& reference) {
    try {
      resolve_checkpoint(reference, db_path());
    } catch (const StoreError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message("best:empty").find("experiment 'empty'"), std::string::npos) << message("best:empty");
  EXPECT_NE(message("latest:nope").find("no experiment 'nope'"), std::string::npos) << message("latest:nope");
  EXPECT_NE(message("best:").find("name the experiment"), std::string::npos);
}

}  // namespace
}  // namespace stride::tracker::testing
