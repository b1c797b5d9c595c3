// Hyperparameter importance over finished trials, in the spirit of fANOVA:
// the share of the objective's variance that each hyperparameter explains on
// its own. The surrogate is an additive (main-effects) model
//   y ~ mu + sum_i f_i(level of parameter i),
// fitted by least squares (backfitting), with one free effect per level: a
// text or bool value, a numeric value, or, for a numeric parameter with more
// than kMaxLevels distinct values, a quantile bin. Parameter i's importance is
// the variance of f_i over the trials; what the additive model cannot explain
// (interactions and noise) is the residual variance. The shares add up to 1.
//
// On a full grid (every combination once, what `stride grid` runs) this is
// exactly the fANOVA decomposition of the grid's empirical distribution:
// the main effects are the marginal means and the residual holds every
// interaction. On an incomplete grid the least-squares fit still separates
// the effects of parameters whose levels were not confounded. Parameters that
// always change together (data.batch_size and data.global_batch_size on one
// rank) cannot be told apart: they are reported as one, with aliases.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "stride/tracker/params.h"

namespace stride::tracker {

// A numeric parameter with more distinct values than this is binned into
// this many quantile bins, so that each effect is estimated from several trials.
inline constexpr size_t kMaxLevels = 8;

struct ImportanceSample {
  Params params{};
  double value = 0;  // the objective; must be finite
};

struct ParamImportance {
  std::string name{};
  double importance = 0;               // share of the variance, 0..1
  size_t levels = 0;                   // distinct levels (values or bins) among the samples
  bool binned = false;                 // numeric values grouped into quantile bins
  std::vector<std::string> aliases{};  // parameters whose levels always changed with this one's
};

struct Importance {
  std::vector<ParamImportance> params{};  // the parameters that vary, most important first
  double unexplained = 0;                 // interactions and noise: residual share, 0..1
  size_t samples = 0;
  double variance = 0;  // of the objective over the samples
  std::string note{};   // why nothing could be computed, or a caveat; "" when fine
};

// The decomposition over `samples`. Parameters with one level are left out.
// With fewer than 3 samples, no varying parameter, or a constant objective,
// `params` is empty and `note` says why. Never throws for any input.
Importance variance_importance(std::span<const ImportanceSample> samples);

}  // namespace stride::tracker
