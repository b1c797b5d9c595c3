// `mpirun -np 2 stride train` with per-rank batch B/2 follows the run of one
// rank with batch B: the same per-epoch losses and accuracies and the same
// final parameters, to floating-point tolerance (only the order of the
// gradient sums differs). Rank equality of the replicas is checked by the
// trainer itself after every epoch (a mismatch fails the job).
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include "stride/core/backend.h"
#include "stride/core/checkpoint.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

extern char** environ;

namespace stride::tools {
namespace {

int run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

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

}  // namespace
}  // namespace stride::tools
