// `mpirun -np 2 stride train` with per-rank batch B/2 follows the run of one
// rank with batch B: the same per-epoch losses and accuracies and the same
// final parameters, to floating-point tolerance (only the order of the
// gradient sums differs). Rank equality of the replicas is checked by the
// trainer itself after every epoch (a mismatch fails the job).
#include <gtest/gtest.h>

#include <cmath>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <fstream>
#include <map>

#include "stride/core/backend.h"
#include "stride/core/checkpoint.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "process.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

int run(std::vector<std::string> args) { return testing::run_process(std::move(args)); }

std::map<std::pair<int64_t, std::string>, double> epoch_metrics(const std::filesystem::path& db) {
  auto store = tracker::Store::open(db, tracker::Access::read_only);
  const std::vector<int64_t> ids = {1};
  std::map<std::pair<int64_t, std::string>, double> out;
  for (const auto& series : store.metric_series(ids))
    for (const auto& p : series.points) out[{p.epoch, series.name}] = p.value;
  return out;
}

TEST(MpiTrain, TwoRanksFollowOneRankWithTheGlobalBatch) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  testing::TempDir dir;
  // 500 training images: the last global batch (20) is split 10 + 10.
  testing::write_synthetic_dataset(dir / "data", {.train = 500, .val = 100, .test = 100});
  {
    std::ofstream config(dir / "run.ini");
    config << "[experiment]\nname = dp\nseed = 11\n[data]\ndir = " << (dir / "data").string()
           << "\nworkers = 1\n[model]\nlayers = conv(8,3) relu maxpool(2) dropout(0.25) flatten dense(16) relu dense(4)\n"
              "[train]\nepochs = 3\nlr = 0.001\nthreads = 1\ncheckpoint_dir = "
           << (dir / "ckpt").string() << "\n";
  }
  const std::string stride = STRIDE_BINARY;
  ASSERT_EQ(0, run({stride, "train", "--config", (dir / "run.ini").string(), "--db", (dir / "one.db").string(),
                    "--set", "data.batch_size=32", "--set", "train.checkpoint_dir=" + (dir / "one").string(),
                    "--no-progress"}));
  ASSERT_EQ(0, run({STRIDE_MPIEXEC, "-np", "2", "--oversubscribe", stride, "train", "--config",
                    (dir / "run.ini").string(), "--db", (dir / "two.db").string(), "--set", "data.batch_size=16",
                    "--set", "train.checkpoint_dir=" + (dir / "two").string(), "--no-progress"}));

  const auto one = epoch_metrics(dir / "one.db");
  const auto two = epoch_metrics(dir / "two.db");
  for (const char* name : {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy"}) {
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      if (!one.count({epoch, name})) continue;
      ASSERT_TRUE(two.count({epoch, name})) << name << " epoch " << epoch;
      EXPECT_NEAR(one.at({epoch, name}), two.at({epoch, name}), 2e-4) << name << " epoch " << epoch;
    }
  }
  EXPECT_TRUE(two.count({2, "comm_wait_fraction"}));
  auto store = tracker::Store::open(dir / "two.db", tracker::Access::read_only);
  EXPECT_EQ(store.trial(1).world_size, 2);

  // Final parameters agree.
  auto backend = make_cpu_backend(1);
  const auto a_path = (dir / "one" / "dp" / "trial-1.h5").string();
  const auto b_path = (dir / "two" / "dp" / "trial-1.h5").string();
  const CheckpointInfo info = read_checkpoint_info(a_path);
  Model a = Model::from_spec(info.model.spec, info.model.input);
  Model b = Model::from_spec(info.model.spec, info.model.input);
  a.init(*backend, 1);
  b.init(*backend, 2);
  load_model_state(a_path, a);
  load_model_state(b_path, b);
  const auto pa = a.parameters();
  const auto pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    for (int64_t k = 0; k < pa[i]->value.elements(); ++k)
      worst = std::max(worst, static_cast<double>(std::abs(pa[i]->value.f32()[k] - pb[i]->value.f32()[k])));
  EXPECT_LT(worst, 1e-4) << "largest parameter difference";
}

// The pid of the rank `rank` process whose command line mentions `marker`.
pid_t find_rank(const std::string& marker, int rank) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(entry.path() / "cmdline"), environment(entry.path() / "environ");
    const std::string command((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    const std::string env((std::istreambuf_iterator<char>(environment)), std::istreambuf_iterator<char>());
    if (command.find(marker) == std::string::npos || command.find("mpirun") != std::string::npos) continue;
    if (env.find("OMPI_COMM_WORLD_RANK=" + std::to_string(rank) + std::string(1, '\0')) != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return 0;
}

TEST(MpiTrain, KilledRankEndsTheJobAndResumeCompletesIt) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir / "data", {.train = 4096, .val = 256, .test = 256, .height = 28, .width = 28});
  {
    std::ofstream config(dir / "run.ini");
    config << "[experiment]\nname = dp\nseed = 11\n[data]\ndir = " << (dir / "data").string()
           << "\nbatch_size = 16\nworkers = 1\n[model]\nlayers = conv(16,3) relu maxpool(2) conv(16,3) relu flatten "
              "dense(32) relu dense(4)\n[train]\nepochs = 4\nlr = 0.001\nthreads = 1\ncollective_timeout = 20\n"
              "checkpoint_dir = "
           << (dir / "ckpt").string() << "\n";
  }
  const std::string db = (dir / "store.db").string();
  std::vector<std::string> job = {STRIDE_MPIEXEC, "-np", "2", "--oversubscribe", STRIDE_BINARY, "train", "--config",
                                  (dir / "run.ini").string(), "--db", db, "--no-progress"};
  const pid_t launcher = testing::spawn_process(job);
  ASSERT_GT(launcher, 0);

  // Once epoch 1 is in the store, kill rank 1 in the middle of epoch 2.
  pid_t victim = 0;
  for (int i = 0; i < 12000 && victim == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    try {
      if (std::filesystem::exists(db) && epoch_metrics(db).count({0, "val_loss"})) victim = find_rank(db, 1);
    } catch (const std::exception&) {
    }
  }
  ASSERT_NE(victim, 0) << "rank 1 never finished an epoch";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto killed_at = std::chrono::steady_clock::now();
  kill(victim, SIGKILL);
  const int code = testing::wait_exit(launcher);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_LT(seconds, 60.0) << "the job outlived its dead rank";
  EXPECT_NE(code, 0) << "the job reported success";

  job.push_back("--resume");
  ASSERT_EQ(0, run(job));
  const auto metrics = epoch_metrics(db);
  for (int64_t epoch = 0; epoch < 4; ++epoch) EXPECT_TRUE(metrics.count({epoch, "val_loss"})) << "epoch " << epoch;
  auto store = tracker::Store::open(db, tracker::Access::read_only);
  EXPECT_EQ(store.trial(1).status, tracker::TrialStatus::completed);
  const std::vector<int64_t> ids = {1};
  const std::vector<std::string> names = {"train_loss"};
  EXPECT_EQ(store.metric_series(ids, names).at(0).points.size(), 4u) << "lost or duplicated epochs";
}

}  // namespace
}  // namespace stride::tools
