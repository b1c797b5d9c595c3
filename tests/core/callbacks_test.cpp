// EarlyStopping and ReduceLROnPlateau on scripted metric sequences, epoch by
// epoch, against what Keras 3 decides for the same sequences (DESIGN.md §7).
#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <vector>

#include "stride/core/callbacks.h"

namespace stride {
namespace {

// The epoch EarlyStopping stops at (-1: never) and each epoch's verdict.
struct Trace {
  int64_t stopped = -1;
  std::vector<VerdictKind> kinds;
  std::vector<int64_t> waits;
};

Trace run(EarlyStoppingConfig config, const std::vector<std::optional<double>>& values) {
  EarlyStopping es(config);
  Trace r;
  for (size_t e = 0; e < values.size(); ++e) {
    const Verdict v = es.check(static_cast<int64_t>(e), values[e]);
    r.kinds.push_back(v.kind);
    r.waits.push_back(v.wait);
    EXPECT_FALSE(v.reason.empty());
    if (v.kind == VerdictKind::early_stop) {
      r.stopped = static_cast<int64_t>(e);
      break;
    }
  }
  return r;
}

constexpr auto keep = VerdictKind::keep;
constexpr auto stop = VerdictKind::early_stop;
constexpr auto skip = VerdictKind::skip;

TEST(EarlyStopping, StopsWhenPatienceRunsOut) {
  EarlyStoppingConfig c;
  c.patience = 2;
  const Trace r = run(c, {1.0, 0.9, 0.95, 0.96, 0.8});
  EXPECT_EQ(r.stopped, 3);
  EXPECT_EQ(r.kinds, (std::vector<VerdictKind>{keep, keep, keep, stop}));
  EXPECT_EQ(r.waits, (std::vector<int64_t>{0, 0, 1, 2}));
}

TEST(EarlyStopping, MinDeltaDecidesWhatCountsAsImprovement) {
  EarlyStoppingConfig c;
  c.patience = 1;
  c.min_delta = 0.1;
  EXPECT_EQ(run(c, {1.0, 0.95, 0.85}).stopped, 1);  // 0.95 is not below 1.0 - 0.1
  c.min_delta = -0.1;                               // the sign is ignored, as in Keras
  EXPECT_EQ(run(c, {1.0, 0.95, 0.85}).stopped, 1);
  c.min_delta = 0.01;
  EXPECT_EQ(run(c, {1.0, 0.95, 0.85, 0.849}).stopped, 3);
}

TEST(EarlyStopping, MaxModeForAccuracies) {
  EarlyStoppingConfig c;
  c.monitor = "val_accuracy";
  c.mode = parse_monitor_mode("auto", c.monitor);
  ASSERT_EQ(c.mode, MonitorMode::max);
  c.patience = 1;
  c.min_delta = 0.01;
  EXPECT_EQ(run(c, {0.5, 0.505, 0.52}).stopped, 1);
  EXPECT_EQ(run(c, {0.5, 0.52, 0.54}).stopped, -1);
}

TEST(EarlyStopping, BaselineMustBeBeatenToResetPatience) {
  EarlyStoppingConfig c;
  c.patience = 2;
  c.baseline = 0.5;
  // Improving but never past the baseline: Keras returns on every improvement, so it never stops...
  Trace r = run(c, {0.9, 0.8, 0.7});
  EXPECT_EQ(r.stopped, -1);
  EXPECT_EQ(r.waits, (std::vector<int64_t>{1, 2, 3}));
  // ...but the first epoch without improvement ends it, since wait already counts the epochs.
  r = run(c, {0.9, 0.95, 0.97});
  EXPECT_EQ(r.stopped, 1);
  // Beating the baseline resets the count.
  r = run(c, {0.4, 0.45, 0.46, 0.47});
  EXPECT_EQ(r.stopped, 2);
}

TEST(EarlyStopping, StartFromEpochSkipsEarlyEpochs) {
  EarlyStoppingConfig c;
  c.patience = 1;
  c.start_from_epoch = 2;
  const Trace r = run(c, {1.0, 2.0, 3.0, 4.0});
  EXPECT_EQ(r.kinds, (std::vector<VerdictKind>{skip, skip, keep, stop}));
  EXPECT_EQ(r.stopped, 3);
}

TEST(EarlyStopping, NeverStopsOnEpochZeroAndSkipsMissingValues) {
  EarlyStoppingConfig c;
  c.patience = 0;
  Trace r = run(c, {1.0, 1.0});
  EXPECT_EQ(r.kinds, (std::vector<VerdictKind>{keep, stop}));
  r = run(c, {std::nullopt, 1.0, 1.0});
  EXPECT_EQ(r.kinds, (std::vector<VerdictKind>{skip, keep, stop}));
}

TEST(EarlyStopping, StateRoundTripDecidesAsUninterrupted) {
  EarlyStoppingConfig c;
  c.patience = 2;
  EarlyStopping whole(c), first(c);
  const std::vector<double> values = {1.0, 0.9, 0.95, 0.96};
  for (int64_t e = 0; e < 3; ++e) {
    whole.check(e, values[static_cast<size_t>(e)]);
    first.check(e, values[static_cast<size_t>(e)]);
  }
  EarlyStopping resumed(c);
  resumed.restore(first.state());
  EXPECT_EQ(resumed.check(3, values[3]).kind, whole.check(3, values[3]).kind);
  EXPECT_EQ(resumed.best_epoch(), whole.best_epoch());
}

// The epochs at which the learning rate changes, and the rates after them.
std::vector<std::pair<int64_t, double>> reductions(ReduceLrConfig config, const std::vector<double>& values) {
  ReduceLrOnPlateau plateau(config);
  double lr = 1.0;
  std::vector<std::pair<int64_t, double>> out;
  for (size_t e = 0; e < values.size(); ++e) {
    const Verdict v = plateau.check(static_cast<int64_t>(e), values[e], lr);
    if (v.kind == VerdictKind::reduce_lr) {
      lr = v.new_lr;
      out.emplace_back(static_cast<int64_t>(e), lr);
    }
  }
  return out;
}

TEST(ReduceLrOnPlateau, CooldownAndMinLrAsKeras) {
  ReduceLrConfig c;
  c.factor = 0.5;
  c.patience = 1;
  c.min_delta = 0;
  c.min_lr = 0.1;
  const std::vector<double> flat(10, 1.0);
  c.cooldown = 2;
  using R = std::vector<std::pair<int64_t, double>>;
  EXPECT_EQ(reductions(c, flat), (R{{1, 0.5}, {3, 0.25}, {5, 0.125}, {7, 0.1}}));
  // A cooldown of 1 is over by the time the next epoch is judged (Keras counts down first).
  c.cooldown = 1;
  EXPECT_EQ(reductions(c, flat), (R{{1, 0.5}, {2, 0.25}, {3, 0.125}, {4, 0.1}}));
  c.cooldown = 0;
  c.patience = 2;
  EXPECT_EQ(reductions(c, {1.0, 0.9, 0.95, 0.95, 0.8, 0.85, 0.85}), (R{{3, 0.5}, {6, 0.25}}));
}

TEST(EarlyStopping, NanCountsAsAnEpochWithoutImprovement) {
  // Keras: only an absent metric is skipped; NaN fails every comparison, so
  // patience runs out on a diverged metric instead of waiting forever.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EarlyStoppingConfig c;
  c.patience = 2;
  Trace r = run(c, {1.0, nan, nan});
  EXPECT_EQ(r.kinds, (std::vector<VerdictKind>{keep, keep, stop}));
  EXPECT_EQ(r.waits, (std::vector<int64_t>{0, 1, 2}));
  // A NaN first value is not a best: the next real value still improves.
  EarlyStopping es(c);
  const Verdict first = es.check(0, nan);
  EXPECT_EQ(first.kind, keep);
  EXPECT_EQ(first.wait, 1);
  EXPECT_FALSE(es.best().has_value());
  EXPECT_TRUE(es.check(1, 0.5).improved);
  EXPECT_DOUBLE_EQ(*es.best(), 0.5);
  EXPECT_FALSE(es.check(2, std::numeric_limits<double>::infinity()).improved);
}

TEST(ReduceLrOnPlateau, NanCountsTowardsPatience) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ReduceLrConfig c;
  c.factor = 0.5;
  c.patience = 2;
  c.min_delta = 0;
  using R = std::vector<std::pair<int64_t, double>>;
  EXPECT_EQ(reductions(c, {1.0, nan, nan}), (R{{2, 0.5}}));
  EXPECT_EQ(reductions(c, {nan, nan}), (R{{1, 0.5}}));
}

TEST(ReduceLrOnPlateau, RejectsBadFactor) {
  ReduceLrConfig c;
  c.factor = 1.5;
  EXPECT_THROW(ReduceLrOnPlateau{c}, std::exception);
}

}  // namespace
}  // namespace stride
