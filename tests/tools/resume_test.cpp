// Kill and resume: `stride train` killed (SIGKILL) after a few epochs and run
// again with --resume gives, epoch for epoch, the metrics of the run never
// interrupted — bitwise on one thread — with no missing or duplicate rows.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "process.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

using testing::spawn_process;
using testing::wait_exit;

// (epoch, name) -> value for the metrics that do not depend on timing.
std::map<std::pair<int64_t, std::string>, double> metrics_of(const std::filesystem::path& db, int64_t trial,
                                                             size_t* rows) {
  auto store = tracker::Store::open(db, tracker::Access::read_only);
  const std::vector<int64_t> ids = {trial};
  std::map<std::pair<int64_t, std::string>, double> out;
  *rows = 0;
  for (const auto& series : store.metric_series(ids)) {
    if (series.name == "images_per_s" || series.name == "epoch_seconds" || series.name == "data_wait_fraction")
      continue;
    for (const auto& p : series.points) {
      ++*rows;
      out[{p.epoch, series.name}] = p.value;
    }
  }
  return out;
}

TEST(Resume, KilledRunResumesToTheSameMetrics) {
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir / "data", {.train = 2048, .val = 256, .test = 256, .height = 28, .width = 28});
  {
    std::ofstream config(dir / "run.ini");
    config
        << "[experiment]\nname = resume\nseed = 5\n[data]\ndir = " << (dir / "data").string()
        << "\nbatch_size = 32\nworkers = 1\n[model]\nlayers = conv(16,3) relu maxpool(2) conv(16,3) relu dropout(0.2)"
           " flatten dense(32) relu dense(4)\n[train]\nepochs = 5\nlr = 0.002\nthreads = 1\ncheckpoint_dir = "
        << (dir / "ckpt").string() << "\n";
  }
  const std::string stride = STRIDE_BINARY;
  const auto base = std::vector<std::string>{stride, "train", "--config", (dir / "run.ini").string(), "--no-progress"};
  auto with_db = [&](const std::string& db, bool resume) {
    auto args = base;
    args.insert(args.end(), {"--db", (dir / db).string()});
    if (resume) args.push_back("--resume");
    return args;
  };

  ASSERT_EQ(0, wait_exit(spawn_process(with_db("whole.db", false), dir / "whole.log")));

  // Kill the second run once two epochs are in the store.
  const pid_t victim = spawn_process(with_db("killed.db", false), dir / "killed.log");
  bool killed = false;
  for (int i = 0; i < 6000 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!std::filesystem::exists(dir / "killed.db")) continue;
    try {
      size_t rows = 0;
      const auto m = metrics_of(dir / "killed.db", 1, &rows);
      if (m.count({1, "val_loss"})) {
        kill(victim, SIGKILL);
        killed = true;
      }
    } catch (const std::exception&) {
      // The store may not have its schema yet.
    }
  }
  ASSERT_TRUE(killed) << "the run never reached epoch 2";
  wait_exit(victim);
  ASSERT_EQ(0, wait_exit(spawn_process(with_db("killed.db", true), dir / "resumed.log")));
  const std::string resumed_log = testing::read_text(dir / "resumed.log");
  EXPECT_NE(resumed_log.find("resuming trial 1 after epoch"), std::string::npos) << resumed_log;

  size_t whole_rows = 0, resumed_rows = 0;
  const auto whole = metrics_of(dir / "whole.db", 1, &whole_rows);
  const auto resumed = metrics_of(dir / "killed.db", 1, &resumed_rows);
  EXPECT_EQ(whole_rows, resumed_rows) << "missing or duplicate metric rows";
  ASSERT_EQ(whole.size(), resumed.size());
  for (const auto& [key, value] : whole) {
    ASSERT_TRUE(resumed.count(key)) << key.second << " of epoch " << key.first << " is missing";
    EXPECT_EQ(value, resumed.at(key)) << key.second << " of epoch " << key.first;
  }
  EXPECT_TRUE(whole.count({4, "val_accuracy"}));
  auto store = tracker::Store::open(dir / "killed.db", tracker::Access::read_only);
  EXPECT_EQ(store.trial(1).status, tracker::TrialStatus::completed);
  EXPECT_EQ(store.trials().size(), 1u);
}

}  // namespace
}  // namespace stride::tools
