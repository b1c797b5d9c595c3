// A trial's identity (its parameter hash) can be narrower than the parameters
// it records: the store records every resolved parameter and the code
// version, while a grid point or a resumed run is still found by the
// parameters that were chosen. And its attempts count runs of it, not the
// calls that start one.
#include "fixture.h"

namespace stride::tracker::testing {
namespace {

TEST_F(StoreTest, TrialsAreFoundByTheirIdentityAndRecordEveryParameter) {
  auto store = open();
  const int64_t experiment = store.ensure_experiment("e");
  NewTrial trial = new_trial(experiment, {{"train.lr", 0.01}, {"data.dir", "data/a"}, {"stride.commit", "abc"}});
  trial.identity = Params{{"train.lr", 0.01}};
  const int64_t id = store.start_trial(trial);

  const TrialRecord record = store.trial(id);
  EXPECT_EQ(record.param_hash, param_hash(Params{{"train.lr", 0.01}}));
  EXPECT_EQ(record.params.size(), 3u);
  EXPECT_EQ(record.params.at("data.dir").as_text(), "data/a");
  ASSERT_TRUE(store.find_trial(experiment, param_hash(Params{{"train.lr", 0.01}})));

  // The same point built by other code (another commit) is the same grid point: no second trial.
  store.finish_trial(id, {TrialStatus::completed});
  NewTrial again = trial;
  again.params["stride.commit"] = "def";
  EXPECT_FALSE(store.claim_trial(again, /*retry_failed=*/false));
  EXPECT_EQ(store.trials().size(), 1u);

  // Recorded parameters are queryable like the chosen ones.
  TrialQuery query;
  query.where.push_back(parse_condition("data.dir = data/a"));
  EXPECT_EQ(store.trials(query).size(), 1u);
}

TEST_F(StoreTest, AttemptsCountRunsNotTheStepsOfStartingOne) {
  auto store = open();
  const int64_t experiment = store.ensure_experiment("e");
  const NewTrial trial = new_trial(experiment, {{"train.lr", 0.1}});
  const auto claim = store.claim_trial(trial, false);
  ASSERT_TRUE(claim);
  // The trainer reopens the trial it was handed: still its first attempt.
  store.resume_trial(claim->trial_id, -1);
  EXPECT_EQ(store.trial(claim->trial_id).attempts, 1);
  // A failed trial taken again is the second, however it is reopened after the claim.
  store.finish_trial(claim->trial_id, {TrialStatus::failed, std::nullopt, std::nullopt, std::string("boom")});
  ASSERT_TRUE(store.claim_trial(trial, /*retry_failed=*/true));
  store.resume_trial(claim->trial_id, 0);
  EXPECT_EQ(store.trial(claim->trial_id).attempts, 2);
  // `stride train --resume` reopens a failed trial without a claim: that is an attempt too.
  store.finish_trial(claim->trial_id, {TrialStatus::failed, std::nullopt, std::nullopt, std::string("boom")});
  store.resume_trial(claim->trial_id, 0);
  EXPECT_EQ(store.trial(claim->trial_id).attempts, 3);
}

}  // namespace
}  // namespace stride::tracker::testing
