// `stride grid` end to end on a synthetic dataset: every point runs once, a
// grid killed mid-way and rerun completes with every trial exactly once, a
// failed trial keeps its error and fails the grid, and two ranks sharing one
// grid, under every pruner, never run the same trial nor damage the store.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "process.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"
#include "tmpfs.h"

namespace stride::tools {
namespace {

class GridTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_ / "data",
                                     {.train = 1024, .val = 128, .test = 128, .height = 16, .width = 16});
    std::ofstream config(dir_ / "grid.ini");
    config << "[experiment]\nname = g\nseed = 2\n[data]\ndir = " << (dir_ / "data").string()
           << "\nbatch_size = 32\nworkers = 1\n[model]\nlayers = conv(8,3) relu maxpool(2) flatten dense(4)\n"
              "[train]\nepochs = 3\nthreads = 1\ncheckpoint_dir = "
           << (dir_ / "ckpt").string() << "\n[grid]\ntrain.lr = 0.001, 0.003, 0.01\ndata.batch_size = 16, 32\n";
  }

  pid_t start(std::vector<std::string> prefix, const std::string& log, std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = std::move(prefix);
    for (const char* a : {"grid", "--config"}) args.emplace_back(a);
    args.push_back((dir_ / "grid.ini").string());
    if (std::find(extra.begin(), extra.end(), "--db") == extra.end())
      args.insert(args.end(), {"--db", (dir_ / "store.db").string()});
    args.emplace_back("--no-progress");
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::spawn_process(std::move(args), dir_ / log);
  }

  static int finish(pid_t pid) { return testing::wait_exit(pid); }

  // A log, for the message of a failed assertion.
  std::string log_text(const std::string& log) const { return "output of the job:\n" + testing::read_text(dir_ / log); }

  std::vector<tracker::TrialRecord> trials() const {
    auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
    return store.trials();
  }

  // Each of the 6 points exactly once, all completed, each with its 3 epochs.
  void expect_complete_grid() const {
    const auto all = trials();
    ASSERT_EQ(all.size(), 6u);
    std::set<std::string> hashes;
    for (const auto& t : all) {
      hashes.insert(t.param_hash);
      EXPECT_EQ(t.status, tracker::TrialStatus::completed) << "trial " << t.id;
      EXPECT_EQ(t.epochs, 3) << "trial " << t.id;
    }
    EXPECT_EQ(hashes.size(), 6u);
    auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
    for (const auto& t : all) {
      const std::vector<int64_t> ids = {t.id};
      const std::vector<std::string> names = {"val_loss"};
      const auto series = store.metric_series(ids, names);
      ASSERT_EQ(series.size(), 1u);
      EXPECT_EQ(series[0].points.size(), 3u) << "trial " << t.id << ": missing or duplicate epochs";
    }
  }

  std::string integrity_check() const {
    auto db = tracker::sqlite::open_connection((dir_ / "store.db").string(), SQLITE_OPEN_READONLY);
    tracker::sqlite::Statement check(db.get(), "PRAGMA integrity_check");
    return check.step() ? check.column_text(0) : "no result";
  }

  testing::TempDir dir_;
};

TEST_F(GridTest, KilledGridRerunCompletesEveryTrialOnce) {
  const pid_t first = start({STRIDE_BINARY}, "first.log");
  // Kill it once the third trial has started.
  bool killed = false;
  for (int i = 0; i < 12000 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    try {
      if (std::filesystem::exists(dir_ / "store.db") && trials().size() >= 3) {
        kill(first, SIGKILL);
        killed = true;
      }
    } catch (const std::exception&) {
    }
  }
  ASSERT_TRUE(killed);
  finish(first);
  ASSERT_EQ(0, finish(start({STRIDE_BINARY}, "second.log"))) << log_text("second.log");
  expect_complete_grid();
  // Rerunning a finished grid runs nothing new.
  ASSERT_EQ(0, finish(start({STRIDE_BINARY}, "third.log"))) << log_text("third.log");
  EXPECT_EQ(trials().size(), 6u);
}

TEST_F(GridTest, AGridPointThatDoesNotBuildLeavesTheStoreUntouched) {
  ASSERT_EQ(1, finish(start({STRIDE_BINARY}, "bad.log", {"--set", "grid.train.optimizer=adam,adamm"})));
  const std::string log = testing::read_text(dir_ / "bad.log");
  EXPECT_NE(log.find("[grid] point (train.lr = 0.003, data.batch_size = 32, train.optimizer = adamm)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("got 'adamm'"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "store.db")) << log;
}

TEST_F(GridTest, FreshTrialsRunOnceAndTheLastEpochPrunesNothing) {
  // Pruning allowed only at the last of the 3 epochs, where it would save nothing. On val_loss
  // (every trial here reaches val_accuracy 1) some trials are always worse than the median.
  ASSERT_EQ(0, finish(start({STRIDE_BINARY}, "pruned.log",
                            {"--set", "grid.pruner=median", "--set", "grid.metric=val_loss", "--set",
                             "grid.n_startup_trials=1", "--set", "grid.n_warmup_epochs=2"})))
      << log_text("pruned.log");
  expect_complete_grid();
  int64_t spared = 0;
  std::string checks;
  auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
  for (const auto& t : trials()) {
    EXPECT_EQ(t.attempts, 1) << "trial " << t.id << " ran once";
    EXPECT_TRUE(t.final_metrics.count("test_accuracy")) << "trial " << t.id << " has no test evaluation";
    tracker::DecisionQuery query;
    query.trial_id = t.id;
    for (const auto& d : store.decisions(query)) {
      if (d.decision.checker == "median_pruner")
        checks += fmt::format("trial {} epoch {}: {}\n", t.id, d.decision.epoch, d.decision.reason);
      if (d.decision.checker == "median_pruner" && d.decision.reason.find("last of 3") != std::string::npos) ++spared;
    }
  }
  EXPECT_GT(spared, 0) << "no last-epoch decision would have pruned: the test shows nothing\n" << checks;
}

TEST_F(GridTest, AFailedTrialRecordsItsErrorAndTheGridExitsNonZero) {
  std::ofstream(dir_ / "not-a-directory") << "a file where the checkpoints should go\n";
  const int code =
      finish(start({STRIDE_BINARY}, "failed.log",
                   {"--set", "grid.train.lr=0.001", "--set", "grid.data.batch_size=32", "--set", "train.epochs=1",
                    "--set", "train.checkpoint_dir=" + (dir_ / "not-a-directory" / "ckpt").string()}));
  EXPECT_EQ(code, 1) << log_text("failed.log");
  const auto all = trials();
  ASSERT_EQ(all.size(), 1u) << log_text("failed.log");
  EXPECT_EQ(all[0].status, tracker::TrialStatus::failed);
  // The error column holds what stopped it, not a placeholder.
  EXPECT_NE(all[0].error.value_or("").find("not-a-directory"), std::string::npos) << all[0].error.value_or("");
  const std::string log = testing::read_text(dir_ / "failed.log");
  EXPECT_NE(log.find("did not finish"), std::string::npos) << log;
  EXPECT_NE(log.find("best: none"), std::string::npos) << "a failed trial is never the best\n" << log;
}

// The store on a full disk: the next grid stops with one line naming the
// store and "no space left", exit 1, and what the first grid wrote is intact.
TEST_F(GridTest, AStoreOnAFullDiskStopsTheGridInOneLineAndKeepsItsRows) {
  testing::TmpfsMount small(dir_ / "small", "2m");
  if (!small.mounted()) GTEST_SKIP() << small.why_not();
  const std::string db = (small.path() / "store.db").string();
  const auto one_point = [&](const std::string& lr, const std::string& log) {
    return finish(start({STRIDE_BINARY}, log,
                        {"--db", db, "--set", "grid.train.lr=" + lr, "--set", "grid.data.batch_size=32", "--set",
                         "train.epochs=1", "--set", "data.limit=256"}));
  };
  ASSERT_EQ(0, one_point("0.001", "first.log")) << log_text("first.log");
  ASSERT_TRUE(small.fill()) << "the tmpfs did not fill up";
  EXPECT_NE(0, one_point("0.003", "full.log")) << log_text("full.log");
  const std::string log = testing::read_text(dir_ / "full.log");
  bool said = false;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    said = said || (line.find(db) != std::string::npos && line.find("no space left on device") != std::string::npos);
  EXPECT_TRUE(said) << "no line names " << db << " and \"no space left on device\"\n" << log;
  small.unfill();
  auto db_handle = tracker::sqlite::open_connection(db, SQLITE_OPEN_READONLY);
  tracker::sqlite::Statement check(db_handle.get(), "PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.column_text(0), "ok");
  auto store = tracker::Store::open(db, tracker::Access::read_only);
  const auto all = store.trials();
  ASSERT_GE(all.size(), 1u);
  EXPECT_EQ(all[0].status, tracker::TrialStatus::completed);
  EXPECT_EQ(all[0].epochs, 1);
  EXPECT_TRUE(all[0].final_metrics.count("test_accuracy")) << "the first trial's rows are all there";
}

#ifdef STRIDE_MPIEXEC
// Under mpirun the ranks claim points from one store: each point runs exactly
// once (whether both ranks get one depends on how fast each starts, which is
// the scheduler's, so the claim itself is tested with a start gate in
// test_tracker_processes).
TEST_F(GridTest, TwoRanksShareTheGridWithoutOverlap) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  ASSERT_EQ(0, finish(start({STRIDE_MPIEXEC, "-np", "2", "--oversubscribe", STRIDE_BINARY}, "mpi.log")))
      << log_text("mpi.log");
  expect_complete_grid();
  for (const auto& t : trials()) EXPECT_EQ(t.attempts, 1) << "trial " << t.id << " ran more than once";
  EXPECT_EQ(integrity_check(), "ok");
}

// Every pruner, two ranks, one store: the store stays intact, every point
// appears once and ends (none left running or failed), and the grid says so.
class GridPrunerTest : public GridTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(GridPrunerTest, TwoRanksLeaveAnIntactStoreWithEveryPointOnce) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const std::string pruner = GetParam();
  const int code = finish(
      start({STRIDE_MPIEXEC, "-np", "2", "--oversubscribe", STRIDE_BINARY}, "pruner.log",
            {"--set", "grid.pruner=" + pruner, "--set", "grid.metric=val_loss", "--set", "grid.n_startup_trials=1",
             "--set", "grid.reduction_factor=2", "--set", "data.limit=256", "--set", "train.epochs=2"}));
  EXPECT_EQ(code, 0) << log_text("pruner.log");
  EXPECT_EQ(integrity_check(), "ok");
  const auto all = trials();
  ASSERT_EQ(all.size(), 6u) << log_text("pruner.log");
  std::set<std::string> hashes;
  int64_t checks = 0;
  auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
  for (const auto& t : all) {
    hashes.insert(t.param_hash);
    EXPECT_EQ(t.attempts, 1) << "trial " << t.id;
    EXPECT_TRUE(t.status == tracker::TrialStatus::completed || t.status == tracker::TrialStatus::stopped_early ||
                t.status == tracker::TrialStatus::pruned)
        << "trial " << t.id << " is " << tracker::status_name(t.status) << ": " << t.error.value_or("");
    tracker::DecisionQuery query;
    query.trial_id = t.id;
    for (const auto& d : store.decisions(query)) checks += d.decision.checker.find(pruner) != std::string::npos;
  }
  EXPECT_EQ(hashes.size(), 6u);
  if (pruner != "none") {
    EXPECT_GT(checks, 0) << "the pruner was never asked";
  }
  const std::string log = testing::read_text(dir_ / "pruner.log");
  const auto best = log.find("best: trial ");
  ASSERT_NE(best, std::string::npos) << log;
  const std::string best_line = log.substr(best, log.find('\n', best) - best);
  EXPECT_TRUE(best_line.find("(completed)") != std::string::npos ||
              best_line.find("(stopped_early)") != std::string::npos)
      << best_line;
}

INSTANTIATE_TEST_SUITE_P(EveryPruner, GridPrunerTest, ::testing::Values("none", "median", "asha"));

TEST_F(GridTest, TwoGroupsOfTwoRanksTrainTrialsDataParallel) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const pid_t job =
      start({STRIDE_MPIEXEC, "-np", "4", "--oversubscribe", STRIDE_BINARY}, "groups.log", {"--ranks-per-trial", "2"});
  ASSERT_EQ(0, finish(job)) << log_text("groups.log");
  expect_complete_grid();
  std::set<int64_t> leaders;
  for (const auto& t : trials()) {
    EXPECT_EQ(t.world_size, 2) << "trial " << t.id;
    leaders.insert(t.pid);
  }
  EXPECT_EQ(leaders.size(), 2u) << "both groups should have taken trials";
}
#endif

}  // namespace
}  // namespace stride::tools
