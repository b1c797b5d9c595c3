// Variance decomposition of an objective over hyperparameter levels (see
// importance.h): levels per parameter, an additive model fitted by
// backfitting, and each effect's variance as its share.
#include "stride/tracker/importance.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

namespace stride::tracker {
namespace {

// One parameter's level per sample; levels are 0..count-1.
struct Factor {
  std::string name;
  std::vector<size_t> level;
  size_t count = 0;
  bool binned = false;
};

// Levels of one parameter: missing is a level of its own, numbers with more than
// kMaxLevels distinct values go into quantile bins (equal values share a bin).
Factor make_factor(const std::string& name, const std::vector<std::optional<ParamValue>>& values) {
  Factor factor;
  factor.name = name;
  std::vector<ParamValue> present;
  for (const auto& v : values)
    if (v) present.push_back(*v);
  std::vector<ParamValue> distinct = present;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const bool numeric = std::all_of(distinct.begin(), distinct.end(), [](const auto& v) { return v.is_number(); });

  std::vector<size_t> level_of_distinct(distinct.size());
  for (size_t i = 0; i < distinct.size(); ++i) level_of_distinct[i] = i;
  if (numeric && distinct.size() > kMaxLevels) {
    factor.binned = true;
    // A value's quantile is the middle of its run in the sorted samples.
    std::sort(present.begin(), present.end());
    const double n = static_cast<double>(present.size());
    for (size_t i = 0; i < distinct.size(); ++i) {
      const auto below = std::lower_bound(present.begin(), present.end(), distinct[i]) - present.begin();
      const auto upto = std::upper_bound(present.begin(), present.end(), distinct[i]) - present.begin();
      const double quantile = (static_cast<double>(below) + 0.5 * static_cast<double>(upto - below)) / n;
      level_of_distinct[i] = std::min(kMaxLevels - 1, static_cast<size_t>(quantile * static_cast<double>(kMaxLevels)));
    }
  }
  // Renumber the levels in use densely; "missing" comes last.
  std::map<size_t, size_t> dense;
  const size_t kMissing = distinct.size() + kMaxLevels;
  std::vector<size_t> raw;
  for (const auto& v : values) {
    size_t level = kMissing;
    if (v) level = level_of_distinct[size_t(std::lower_bound(distinct.begin(), distinct.end(), *v) - distinct.begin())];
    raw.push_back(level);
    dense.emplace(level, 0);
  }
  size_t next = 0;
  for (auto& [level, index] : dense) index = next++;
  for (size_t level : raw) factor.level.push_back(dense.at(level));
  factor.count = dense.size();
  return factor;
}

// Whether two factors group the samples identically (their levels correspond one to one).
bool same_grouping(const Factor& a, const Factor& b) {
  if (a.count != b.count) return false;
  std::vector<size_t> a_to_b(a.count, SIZE_MAX), b_to_a(b.count, SIZE_MAX);
  for (size_t i = 0; i < a.level.size(); ++i) {
    const size_t la = a.level[i], lb = b.level[i];
    if (a_to_b[la] == SIZE_MAX) a_to_b[la] = lb;
    if (b_to_a[lb] == SIZE_MAX) b_to_a[lb] = la;
    if (a_to_b[la] != lb || b_to_a[lb] != la) return false;
  }
  return true;
}

}  // namespace

Importance variance_importance(std::span<const ImportanceSample> input) {
  Importance result;
  std::vector<const ImportanceSample*> samples;
  for (const auto& s : input)
    if (std::isfinite(s.value)) samples.push_back(&s);
  result.samples = samples.size();
  const size_t n = samples.size();
  if (n < 3) {
    result.note = fmt::format("{} finished trial{} with the objective; at least 3 are needed", n, n == 1 ? "" : "s");
    return result;
  }

  std::set<std::string> names;
  for (const auto* s : samples)
    for (const auto& [name, value] : s->params) names.insert(name);
  std::vector<Factor> factors;
  std::vector<std::vector<std::string>> aliases;
  for (const auto& name : names) {
    std::vector<std::optional<ParamValue>> values;
    for (const auto* s : samples) {
      const auto it = s->params.find(name);
      values.push_back(it == s->params.end() ? std::nullopt : std::optional<ParamValue>(it->second));
    }
    Factor factor = make_factor(name, values);
    if (factor.count <= 1) continue;
    const auto twin =
        std::find_if(factors.begin(), factors.end(), [&](const auto& f) { return same_grouping(f, factor); });
    if (twin != factors.end()) {
      aliases[size_t(twin - factors.begin())].push_back(name);
      continue;
    }
    factors.push_back(std::move(factor));
    aliases.emplace_back();
  }

  double mean = 0;
  for (const auto* s : samples) mean += s->value;
  mean /= static_cast<double>(n);
  for (const auto* s : samples) result.variance += (s->value - mean) * (s->value - mean);
  result.variance /= static_cast<double>(n);
  if (factors.empty()) {
    result.note = "no hyperparameter differs among the finished trials";
    return result;
  }
  if (!(result.variance > 1e-300) || result.variance <= 1e-24 * mean * mean) {
    result.note = "the objective is the same for every finished trial";
    return result;
  }

  // Backfitting: each effect in turn becomes the per-level mean of what the
  // others leave, centred. Block coordinate descent on a convex least-squares
  // problem, so it converges; a few dozen sweeps reach double precision on grids.
  std::vector<std::vector<double>> effect(factors.size());
  for (size_t f = 0; f < factors.size(); ++f) effect[f].assign(factors[f].count, 0.0);
  std::vector<double> fitted(n, 0.0);  // sum of all effects per sample
  const double tolerance = 1e-13 * std::sqrt(result.variance);
  for (int sweep = 0; sweep < 500; ++sweep) {
    double largest_change = 0;
    for (size_t f = 0; f < factors.size(); ++f) {
      const Factor& factor = factors[f];
      std::vector<double> sum(factor.count, 0.0), count(factor.count, 0.0);
      for (size_t i = 0; i < n; ++i) {
        const size_t l = factor.level[i];
        sum[l] += samples[i]->value - mean - (fitted[i] - effect[f][l]);
        count[l] += 1;
      }
      std::vector<double> updated(factor.count);
      double centre = 0;
      for (size_t l = 0; l < factor.count; ++l) {
        updated[l] = sum[l] / count[l];
        centre += updated[l] * count[l];
      }
      centre /= static_cast<double>(n);
      for (size_t l = 0; l < factor.count; ++l) {
        updated[l] -= centre;
        largest_change = std::max(largest_change, std::abs(updated[l] - effect[f][l]));
      }
      for (size_t i = 0; i < n; ++i) fitted[i] += updated[factor.level[i]] - effect[f][factor.level[i]];
      effect[f] = std::move(updated);
    }
    if (largest_change <= tolerance) break;
  }

  double residual = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = samples[i]->value - mean - fitted[i];
    residual += r * r;
  }
  residual /= static_cast<double>(n);
  std::vector<double> variance(factors.size(), 0.0);
  for (size_t f = 0; f < factors.size(); ++f) {
    for (size_t i = 0; i < n; ++i) variance[f] += effect[f][factors[f].level[i]] * effect[f][factors[f].level[i]];
    variance[f] /= static_cast<double>(n);
  }
  double total = residual;
  for (double v : variance) total += v;
  size_t free_effects = 0;
  for (size_t f = 0; f < factors.size(); ++f) {
    result.params.push_back({factors[f].name, variance[f] / total, factors[f].count, factors[f].binned, aliases[f]});
    free_effects += factors[f].count - 1;
  }
  result.unexplained = residual / total;
  std::stable_sort(result.params.begin(), result.params.end(),
                   [](const auto& a, const auto& b) { return a.importance > b.importance; });
  if (free_effects + 1 >= n)
    result.note = fmt::format("{} effects fitted to {} trials: the fit is exact, so the shares mostly reflect noise",
                              free_effects + 1, n);
  return result;
}

}  // namespace stride::tracker
