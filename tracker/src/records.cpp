// Names of the store's enumerations as stored in the database and printed by
// the report, plus the clock and host name every record is stamped with.
#include "stride/tracker/records.h"

#include <unistd.h>

#include <array>
#include <chrono>

#include "stride/common/error.h"

namespace stride::tracker {
namespace {

template <typename Enum, size_t N>
Enum parse_name(const std::array<std::string_view, N>& names, std::string_view name, std::string_view what) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<Enum>(i);
  std::string expected;
  for (size_t i = 0; i < N; ++i) expected += (i ? ", " : "") + std::string(names[i]);
  fail<StoreError>("unknown {} '{}' (expected one of {})", what, name, expected);
}

constexpr std::array<std::string_view, 5> kStatusNames = {"running", "completed", "stopped_early", "pruned",
                                                          "failed"};
constexpr std::array<std::string_view, 4> kDecisionNames = {"early_stop", "reduce_lr", "prune", "keep"};
constexpr std::array<std::string_view, 2> kGoalNames = {"min", "max"};

}  // namespace

std::string_view status_name(TrialStatus status) { return kStatusNames.at(static_cast<size_t>(status)); }
TrialStatus parse_status(std::string_view name) { return parse_name<TrialStatus>(kStatusNames, name, "trial status"); }

std::string_view decision_kind_name(DecisionKind kind) { return kDecisionNames.at(static_cast<size_t>(kind)); }
DecisionKind parse_decision_kind(std::string_view name) {
  return parse_name<DecisionKind>(kDecisionNames, name, "decision kind");
}

std::string_view goal_name(Goal goal) { return kGoalNames.at(static_cast<size_t>(goal)); }
Goal parse_goal(std::string_view name) { return parse_name<Goal>(kGoalNames, name, "goal"); }

Goal default_goal(std::string_view metric) {
  for (std::string_view lower_is_better : {"loss", "error", "time", "seconds", "wait", "perplexity"})
    if (metric.find(lower_is_better) != std::string_view::npos) return Goal::minimize;
  return Goal::maximize;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string this_host() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0) return "localhost";
  return std::string(name.data());
}

}  // namespace stride::tracker
