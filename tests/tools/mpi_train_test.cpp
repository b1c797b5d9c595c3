// `mpirun -np 2 stride train` with per-rank batch B/2 follows the run of one
// rank with batch B: the same per-epoch losses and accuracies and the same
// final parameters, to floating-point tolerance (only the order of the
// gradient sums differs). Rank equality of the replicas is checked by the
// trainer itself after every epoch (a mismatch fails the job).
#include <gtest/gtest.h>

#include <signal.h>
#include <cmath>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "process.h"
#include "stride/core/backend.h"
#include "stride/core/checkpoint.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
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

// How far `mpirun -np 2` with per-rank batch 16 strays from one rank with
// batch 32: the largest difference of any per-epoch metric and of any final
// parameter. The same config, data and seed for both.
struct Divergence {
  double metric = 0;
  double parameter = 0;
  std::string worst_metric;
};

Divergence two_ranks_against_one(const testing::TempDir& dir, const std::string& name, const std::string& layers,
                                 const std::vector<std::string>& sets = {}) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  if (!std::filesystem::exists(dir / "data"))  // 500 training images: the last global batch (20) is split 10 + 10
    testing::write_synthetic_dataset(dir / "data", {.train = 500, .val = 100, .test = 100});
  const auto config = dir / (name + ".ini");
  {
    std::ofstream out(config);
    out << "[experiment]\nname = dp\nseed = 11\n[data]\ndir = " << (dir / "data").string()
        << "\nworkers = 1\n[model]\nlayers = " << layers << "\n[train]\nepochs = 3\nlr = 0.001\nthreads = 1\n";
  }
  const std::string stride = STRIDE_BINARY;
  auto command = [&](std::vector<std::string> head, const std::string& run, int batch) {
    for (const std::string& a :
         {std::string("train"), std::string("--config"), config.string(), std::string("--db"),
          (dir / (run + ".db")).string(), std::string("--set"), "data.batch_size=" + std::to_string(batch),
          std::string("--set"), "train.checkpoint_dir=" + (dir / run).string(), std::string("--no-progress")})
      head.push_back(a);
    for (const std::string& s : sets) head.insert(head.end(), {"--set", s});
    return head;
  };
  const std::string one = name + "-one", two = name + "-two";
  EXPECT_EQ(0, run(command({stride}, one, 32)));
  EXPECT_EQ(0, run(command({STRIDE_MPIEXEC, "-np", "2", "--oversubscribe", stride}, two, 16)));

  Divergence d;
  const auto a = epoch_metrics(dir / (one + ".db"));
  const auto b = epoch_metrics(dir / (two + ".db"));
  for (const char* metric : {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy"}) {
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      if (!a.count({epoch, metric})) continue;
      EXPECT_TRUE(b.count({epoch, metric})) << metric << " epoch " << epoch << " missing at 2 ranks";
      if (!b.count({epoch, metric})) continue;
      const double diff = std::abs(a.at({epoch, metric}) - b.at({epoch, metric}));
      if (diff >= d.metric) d.metric = diff, d.worst_metric = fmt::format("{} epoch {}", metric, epoch);
    }
  }
  EXPECT_TRUE(b.count({2, "comm_wait_fraction"}));
  EXPECT_EQ(tracker::Store::open(dir / (two + ".db"), tracker::Access::read_only).trial(1).world_size, 2);

  auto backend = make_cpu_backend(1);
  const auto a_path = (dir / one / "dp" / "trial-1.h5").string();
  const auto b_path = (dir / two / "dp" / "trial-1.h5").string();
  const CheckpointInfo info = read_checkpoint_info(a_path);
  Model ma = Model::from_spec(info.model.spec, info.model.input);
  Model mb = Model::from_spec(info.model.spec, info.model.input);
  ma.init(*backend, 1);
  mb.init(*backend, 2);
  load_model_state(a_path, ma);
  load_model_state(b_path, mb);
  const auto pa = ma.parameters();
  const auto pb = mb.parameters();
  EXPECT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < std::min(pa.size(), pb.size()); ++i)
    for (int64_t k = 0; k < pa[i]->value.elements(); ++k)
      d.parameter = std::max(d.parameter, static_cast<double>(std::abs(pa[i]->value.f32()[k] - pb[i]->value.f32()[k])));
  return d;
}

TEST(MpiTrain, TwoRanksFollowOneRankWithTheGlobalBatch) {
  testing::TempDir dir;
  const Divergence d =
      two_ranks_against_one(dir, "plain", "conv(8,3) relu maxpool(2) dropout(0.25) flatten dense(16) relu dense(4)");
  EXPECT_LT(d.metric, 2e-4) << "largest metric difference, at " << d.worst_metric;
  EXPECT_LT(d.parameter, 1e-4) << "largest parameter difference";
}

// Batch norm with local statistics normalises each rank's 16 images on their
// own, so two ranks are not one rank with batch 32; synchronised batch norm
// (train.sync_bn) normalises over the global batch, so they are again.
TEST(MpiTrain, SynchronisedBatchNormMakesTwoRanksFollowOneRank) {
  testing::TempDir dir;
  // No bias before batch norm: its gradient is zero up to rounding, which Adam
  // would turn into steps of lr that differ between any two summation orders.
  const std::string layers = "conv(8,3,bias=false) bn relu maxpool(2) flatten dense(16,bias=false) bn relu dense(4)";
  const Divergence synced = two_ranks_against_one(dir, "synced", layers, {"train.sync_bn=true"});
  EXPECT_LT(synced.metric, 1e-4) << "largest metric difference, at " << synced.worst_metric;
  EXPECT_LT(synced.parameter, 1e-4) << "largest parameter difference";
  const Divergence local = two_ranks_against_one(dir, "local", layers);
  EXPECT_GT(local.metric, 5e-3) << "local batch statistics should change the trajectory";
  std::printf("largest difference from one rank: synchronised %.2g (parameters %.2g), local %.2g (at %s)\n",
              synced.metric, synced.parameter, local.metric, local.worst_metric.c_str());
}

// The pid of the rank `rank` process whose command line mentions `marker`.
pid_t find_rank(const std::string& marker, int rank) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string command = testing::read_text(entry.path() / "cmdline");
    const std::string env = testing::read_text(entry.path() / "environ");
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
  std::vector<std::string> job = {STRIDE_MPIEXEC,
                                  "-np",
                                  "2",
                                  "--oversubscribe",
                                  STRIDE_BINARY,
                                  "train",
                                  "--config",
                                  (dir / "run.ini").string(),
                                  "--db",
                                  db,
                                  "--no-progress"};
  const auto log = dir / "job.log";
  const pid_t launcher = testing::spawn_process(job, log);
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
  const std::string output = testing::read_text(log);
  EXPECT_NE(output.find("rank 1"), std::string::npos) << "no line names the dead rank:\n" << output;

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
