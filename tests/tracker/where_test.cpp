// `--where` parsing and resolution: operators, typed comparisons against
// parameters, metrics and trial columns, and names and values that look like
// SQL staying data.
#include "fixture.h"
#include "stride/tracker/query.h"

namespace stride::tracker::testing {
namespace {

constexpr const char* kEvilName = "x'; DROP TABLE trials; --";

class WhereTest : public StoreTest {
 protected:
  void SetUp() override {
    auto store = open();
    const int64_t experiment = store.ensure_experiment("sweep");
    const double lrs[] = {0.001, 0.003, 0.01, 0.03};
    for (int i = 0; i < 4; ++i) {
      Params params{{"train.lr", lrs[i]},
                    {"data.batch_size", i < 2 ? 32 : 64},
                    {"train.optimizer", i % 2 ? "sgd" : "adam"},
                    {"augment.hflip", i == 0},
                    {kEvilName, "'; DROP TABLE params; --"}};
      const int64_t id = store.start_trial(new_trial(experiment, params));
      store.log_metrics(id, epoch_rows(0, 0.6 + 0.1 * i, 1.0 - 0.1 * i));
      store.finish_trial(
          id, {i == 3 ? TrialStatus::pruned : TrialStatus::completed, std::nullopt, std::nullopt, std::nullopt});
    }
    const int64_t other = store.ensure_experiment(kEvilName);
    store.start_trial(new_trial(other, {{"train.lr", 0.5}}));
  }

  std::vector<int64_t> ids_where(std::vector<std::string> conditions, bool sweep_only = true) {
    TrialQuery query;
    if (sweep_only) query.experiment = "sweep";
    for (const auto& c : conditions) query.where.push_back(parse_condition(c));
    std::vector<int64_t> ids;
    for (const auto& t : open(Access::read_only).trials(query)) ids.push_back(t.id);
    return ids;
  }
};

TEST(ParseCondition, SplitsNameOperatorAndValue) {
  const Condition c = parse_condition("  train.lr <= 1e-3 ");
  EXPECT_EQ(c.name, "train.lr");
  EXPECT_EQ(c.op, CompareOp::less_equal);
  EXPECT_EQ(c.value, "1e-3");
  EXPECT_EQ(parse_condition("a==b").op, CompareOp::equal);
  EXPECT_EQ(parse_condition("a<>b").op, CompareOp::not_equal);
  EXPECT_EQ(parse_condition("a!=b").op, CompareOp::not_equal);
  EXPECT_EQ(parse_condition("a>b").op, CompareOp::greater);
  EXPECT_EQ(parse_condition("a>=b").op, CompareOp::greater_equal);
  EXPECT_EQ(parse_condition("model.layers = 'conv(32,3) relu'").value, "conv(32,3) relu");
  EXPECT_THROW(parse_condition("train.lr"), StoreError);
  EXPECT_THROW(parse_condition("= 3"), StoreError);
  EXPECT_THROW(parse_condition("train.lr >"), StoreError);
}

TEST_F(WhereTest, ComparesParametersByType) {
  EXPECT_EQ(ids_where({"train.lr < 0.005"}), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(ids_where({"train.lr >= 0.003", "data.batch_size = 64"}), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(ids_where({"train.optimizer = sgd"}), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(ids_where({"augment.hflip = true"}), (std::vector<int64_t>{1}));
  EXPECT_EQ(ids_where({"data.batch_size = 64.0"}), (std::vector<int64_t>{3, 4}));
}

TEST_F(WhereTest, ComparesFinalMetricsColumnsAndStatus) {
  EXPECT_EQ(ids_where({"val_accuracy > 0.75"}), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(ids_where({"status = pruned"}), (std::vector<int64_t>{4}));
  EXPECT_EQ(ids_where({"status != pruned", "id >= 2"}), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ids_where({"epochs = 1"}).size(), 4u);
  EXPECT_EQ(ids_where({"experiment = sweep"}, false).size(), 4u);
}

TEST_F(WhereTest, RejectsUnknownNamesAndMistypedValuesNamingThem) {
  try {
    ids_where({"train.lrr < 1"});
    FAIL() << "an unknown name must be an error";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("train.lrr"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean 'train.lr'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ids_where({"train.lr < fast"}), StoreError);
  EXPECT_THROW(ids_where({"augment.hflip = maybe"}), StoreError);
  EXPECT_THROW(ids_where({"status < running"}), StoreError);
  EXPECT_THROW(ids_where({"status = sleeping"}), StoreError);
}

TEST_F(WhereTest, NamesAndValuesThatLookLikeSqlStayData) {
  const std::string condition = std::string(kEvilName) + " = '; DROP TABLE params; --";
  EXPECT_EQ(ids_where({condition}).size(), 4u);
  EXPECT_TRUE(ids_where({std::string(kEvilName) + " = 1' OR '1'='1"}).empty());
  TrialQuery by_experiment;
  by_experiment.experiment = kEvilName;
  EXPECT_EQ(open(Access::read_only).trials(by_experiment).size(), 1u);
  EXPECT_EQ(open(Access::read_only).decisions({std::string(kEvilName), std::nullopt, true}).size(), 0u);
  EXPECT_EQ(open(Access::read_only).param_names(std::string_view(kEvilName)), std::vector<std::string>{"train.lr"});

  auto store = open();
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM trials"), 5) << "the trials table survives";
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM params"), 4 * 5 + 1);
  const auto t = store.trial(1);
  EXPECT_EQ(t.params.at(kEvilName).as_text(), "'; DROP TABLE params; --");
  EXPECT_EQ(integrity_check(db_path()), "ok");
}

TEST_F(WhereTest, UnknownExperimentSuggestsTheClosestName) {
  TrialQuery query;
  query.experiment = "sweeep";
  try {
    open(Access::read_only).trials(query);
    FAIL() << "an unknown experiment must be an error";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'sweep'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stride::tracker::testing
