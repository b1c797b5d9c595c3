// A trial's identity (its parameter hash) can be narrower than the parameters
// it records: the store records every resolved parameter and the code
// version, while a grid point or a resumed run is still found by the
// parameters that were chosen.
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

}  // namespace
}  // namespace stride::tracker::testing
