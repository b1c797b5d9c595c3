// The median and successive-halving pruners on scripted trial histories.
#include <gtest/gtest.h>

#include "run/pruners.h"

namespace stride::tools {
namespace {

using tracker::DecisionKind;

PrunerConfig median_config() {
  PrunerConfig c;
  c.kind = "median";
  c.metric = "val_accuracy";
  c.mode = MonitorMode::max;
  c.n_startup_trials = 2;
  c.n_warmup_epochs = 1;
  return c;
}

TEST(MedianPruner, WaitsForStartupTrialsAndWarmup) {
  const PrunerConfig c = median_config();
  const std::vector<PeerValue> peers = {{1, true, 0.8}, {2, true, 0.9}};
  EXPECT_EQ(median_prune(c, 3, {0.1, 0.2}, peers, 1).kind, DecisionKind::keep);  // one startup trial done
  EXPECT_EQ(median_prune(c, 0, {0.1}, peers, 2).kind, DecisionKind::keep);       // warmup epoch
  EXPECT_EQ(median_prune(c, 1, {0.1, 0.2}, peers, 2).kind, DecisionKind::prune);
}

TEST(MedianPruner, ComparesTheBestSoFarWithTheCompletedTrialsMedian) {
  const PrunerConfig c = median_config();
  // Median of completed 0.8 and 0.9 is 0.85; the running trial (0.1) is ignored.
  const std::vector<PeerValue> peers = {{1, true, 0.8}, {2, true, 0.9}, {3, false, 0.1}};
  const auto pruned = median_prune(c, 2, {0.7, 0.84, 0.6}, peers, 2);
  EXPECT_EQ(pruned.kind, DecisionKind::prune);
  EXPECT_DOUBLE_EQ(*pruned.best, 0.84);
  EXPECT_DOUBLE_EQ(*pruned.value, 0.6);
  EXPECT_NE(pruned.reason.find("0.85"), std::string::npos) << pruned.reason;
  // Its best earlier value is what counts, not the last one.
  EXPECT_EQ(median_prune(c, 2, {0.7, 0.86, 0.6}, peers, 2).kind, DecisionKind::keep);
  // Minimising: a loss above the median is pruned.
  PrunerConfig m = c;
  m.metric = "val_loss";
  m.mode = MonitorMode::min;
  EXPECT_EQ(median_prune(m, 2, {0.9, 0.95}, peers, 2).kind, DecisionKind::prune);
  EXPECT_EQ(median_prune(m, 2, {0.9, 0.5}, peers, 2).kind, DecisionKind::keep);
  // No completed trial at this epoch: nothing to compare with.
  EXPECT_EQ(median_prune(c, 2, {0.1}, {{3, false, 0.9}}, 2).kind, DecisionKind::keep);
}

TEST(AshaPruner, KeepsTheTopFractionAtEachRung) {
  PrunerConfig c;
  c.kind = "asha";
  c.mode = MonitorMode::max;
  c.min_epochs = 1;
  c.reduction_factor = 3;
  const std::vector<PeerValue> peers = {{1, true, 0.9}, {2, true, 0.8}, {3, false, 0.7}, {4, false, 0.6},
                                        {5, false, 0.5}};
  // Rung after 1 epoch: 6 trials, the top 2 go on.
  EXPECT_EQ(asha_prune(c, 0, 0.85, peers).kind, DecisionKind::keep);
  EXPECT_EQ(asha_prune(c, 0, 0.75, peers).kind, DecisionKind::prune);
  // 2 epochs is not a rung; 3 is.
  EXPECT_EQ(asha_prune(c, 1, 0.0, peers).kind, DecisionKind::keep);
  EXPECT_EQ(asha_prune(c, 2, 0.0, peers).kind, DecisionKind::prune);
  // Alone at a rung, the best one always goes on.
  EXPECT_EQ(asha_prune(c, 2, 0.0, {}).kind, DecisionKind::keep);
  EXPECT_EQ(asha_prune(c, 8, 0.0, {}).checker, "asha");
}

TEST(LastEpoch, APruneAtTheLastEpochBecomesAKeepWithItsNumbers) {
  const PrunerConfig c = median_config();
  const std::vector<PeerValue> peers = {{1, true, 0.8}, {2, true, 0.9}};
  // n_warmup_epochs = epochs - 1: the only check is at the last epoch, where pruning saves nothing.
  const tracker::Decision pruned = median_prune(c, 1, {0.1, 0.2}, peers, 2);
  ASSERT_EQ(pruned.kind, DecisionKind::prune);
  const tracker::Decision spared = spare_last_epoch(pruned, /*epochs=*/2);
  EXPECT_EQ(spared.kind, DecisionKind::keep);
  EXPECT_EQ(spared.value, pruned.value);
  EXPECT_NE(spared.reason.find("worse than the median"), std::string::npos) << spared.reason;
  EXPECT_NE(spared.reason.find("last of 2"), std::string::npos) << spared.reason;
  // Before the last epoch a prune stays a prune.
  EXPECT_EQ(spare_last_epoch(pruned, /*epochs=*/3).kind, DecisionKind::prune);
}

}  // namespace
}  // namespace stride::tools
