// The config schema: defaults, overrides, and errors that name the key.
#include <gtest/gtest.h>

#include "run/config.h"
#include "stride/common/error.h"

namespace stride::tools {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAndFileValues) {
  const Config c = Config::from_text("[train]\nlr = 0.01\nepochs = 3\n[model]\narch = seed_cnn\n", "a.ini");
  EXPECT_DOUBLE_EQ(c.real("train.lr"), 0.01);
  EXPECT_EQ(c.integer("train.epochs"), 3);
  EXPECT_EQ(c.integer("data.batch_size"), 32);  // default
  EXPECT_EQ(c.text("model.arch"), "seed_cnn");
  EXPECT_FALSE(c.has("early_stopping.patience"));
  EXPECT_EQ(c.origin("train.lr"), "a.ini");
  EXPECT_EQ(c.origin("data.batch_size"), "default");
}

TEST(Config, OverrideReplacesAndIsChecked) {
  Config c = Config::from_text("[train]\nlr = 0.01\n", "a.ini");
  c.apply_override("train.lr=0.5");
  EXPECT_DOUBLE_EQ(c.real("train.lr"), 0.5);
  EXPECT_EQ(c.origin("train.lr"), "--set");
  EXPECT_NE(error_of([&] { c.apply_override("train.lr"); }).find("expected section.key=value"), std::string::npos);
  EXPECT_NE(error_of([&] { c.apply_override("train.epochs=three"); }).find("train.epochs"), std::string::npos);
}

TEST(Config, UnknownKeySuggestsClosest) {
  const std::string e = error_of([] { Config::from_text("[train]\nlrr = 0.01\n", "a.ini"); });
  EXPECT_NE(e.find("a.ini"), std::string::npos) << e;
  EXPECT_NE(e.find("'train.lrr'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'train.lr'"), std::string::npos) << e;
}

TEST(Config, UnknownSectionIsNamed) {
  const std::string e = error_of([] { Config::from_text("[trian]\nlr = 0.01\n", "b.ini"); });
  EXPECT_NE(e.find("unknown section [trian]"), std::string::npos) << e;
}

TEST(Config, BadValueNamesFileAndKey) {
  const std::string e = error_of([] { Config::from_text("[data]\nbatch_size = 3x\n", "c.ini"); });
  EXPECT_NE(e.find("c.ini"), std::string::npos) << e;
  EXPECT_NE(e.find("data.batch_size"), std::string::npos) << e;
}

TEST(Config, GridAxesKeepParenthesisedValuesWhole) {
  const Config c = Config::from_text(
      "[grid]\ntrain.lr = 0.001, 0.003\nmodel.layers = conv(8,3) relu flatten dense(4), flatten dense(4)\n"
      "pruner = median\n",
      "g.ini");
  ASSERT_EQ(c.grid().size(), 2u);
  EXPECT_EQ(c.grid()[0].key, "train.lr");
  EXPECT_EQ(c.grid()[0].values, (std::vector<std::string>{"0.001", "0.003"}));
  EXPECT_EQ(c.grid()[1].values,
            (std::vector<std::string>{"conv(8,3) relu flatten dense(4)", "flatten dense(4)"}));
  EXPECT_EQ(c.grid_options().at("pruner"), "median");
  EXPECT_NE(error_of([] { Config::from_text("[grid]\ntrain.lrr = 1, 2\n", "g.ini"); }).find("train.lrr"),
            std::string::npos);
  EXPECT_NE(error_of([] { Config::from_text("[grid]\nprunner = asha\n", "g.ini"); }).find("did you mean 'pruner'"),
            std::string::npos);
  EXPECT_NE(error_of([] { Config::from_text("[grid]\ntrain.epochs = 1, x\n", "g.ini"); }).find("train.epochs"),
            std::string::npos);
}

TEST(Config, IdentityIsTypedAndLeavesOutOperationalKeys) {
  const Config c = Config::from_text("[train]\nlr = 0.01\nthreads = 2\n[data]\nworkers = 3\n", "a.ini");
  const tracker::Params p = c.identity_params();
  EXPECT_EQ(p.at("train.lr").type(), tracker::ParamType::real);
  EXPECT_EQ(p.at("data.batch_size").type(), tracker::ParamType::integer);
  EXPECT_EQ(p.count("train.nesterov"), 0u);  // at its default
  EXPECT_EQ(p.count("train.threads"), 0u);
  EXPECT_EQ(p.count("data.workers"), 0u);
}

TEST(Config, IdentityListsWhatDiffersFromTheDefaults) {
  Config c = Config::from_text("[train]\nnesterov = true\nmomentum = 0.9\noptimizer = sgd\n", "a.ini");
  const tracker::Params p = c.identity_params();
  EXPECT_EQ(p.at("train.nesterov").type(), tracker::ParamType::boolean);
  EXPECT_DOUBLE_EQ(p.at("train.momentum").as_double(), 0.9);
  EXPECT_EQ(p.count("augment.hflip"), 0u);
  // Writing a default explicitly does not make another trial.
  const Config same = Config::from_text("[train]\nnesterov = true\nmomentum = 0.9\noptimizer = sgd\nbeta1 = 0.90\n",
                                        "b.ini");
  EXPECT_EQ(tracker::param_hash(same.identity_params()), tracker::param_hash(p));
}

TEST(Config, ParamsRecordEveryResolvedKeyDefaultsIncluded) {
  const Config c = Config::from_text("[train]\nlr = 0.01\nthreads = 2\n", "a.ini");
  const tracker::Params p = c.params();
  // Defaults, operational keys and chosen values alike: what --where can filter on.
  EXPECT_EQ(p.at("data.dir").as_text(), "data/fashion-mnist");
  EXPECT_EQ(p.at("train.threads").as_int(), 2);
  EXPECT_EQ(p.at("data.workers").as_int(), 2);
  EXPECT_EQ(p.at("augment.hflip").as_bool(), false);
  EXPECT_DOUBLE_EQ(p.at("train.lr").as_double(), 0.01);
  EXPECT_EQ(p.count("early_stopping.patience"), 0u);  // unset: early stopping is off
  EXPECT_EQ(p.count("experiment.name"), 0u);          // the experiment, not a parameter
  for (const auto& [name, value] : c.identity_params()) EXPECT_TRUE(p.count(name)) << name;
}

TEST(Config, GridLinesCanBeOverridden) {
  Config c = Config::from_text("[grid]\ntrain.lr = 0.001, 0.003\ndata.batch_size = 16, 32\npruner = median\n", "g.ini");
  c.apply_override("grid.pruner=asha");
  c.apply_override("grid.train.lr=0.1, 0.2, 0.3");
  c.apply_override("grid.augment.hflip=true,false");
  EXPECT_EQ(c.grid_options().at("pruner"), "asha");
  ASSERT_EQ(c.grid().size(), 3u);
  EXPECT_EQ(c.grid()[0].key, "train.lr");  // replaced in place: the order of the product stays
  EXPECT_EQ(c.grid()[0].values, (std::vector<std::string>{"0.1", "0.2", "0.3"}));
  EXPECT_EQ(c.grid()[2].key, "augment.hflip");
  EXPECT_NE(error_of([&] { c.apply_override("grid.prunner=asha"); }).find("did you mean 'pruner'"), std::string::npos);
  EXPECT_NE(error_of([&] { c.apply_override("grid.train.epochs=1,x"); }).find("train.epochs"), std::string::npos);
  const std::string unknown = error_of([&] { c.apply_override("grid.train.lrr=1"); });
  EXPECT_NE(unknown.find("--set"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("did you mean 'train.lr'"), std::string::npos) << unknown;
}

TEST(Config, IniRoundTripKeepsEveryValue) {
  Config c = Config::from_text("[train]\nlr = 0.02\n[model]\nlayers = flatten dense(4)\n", "a.ini");
  c.apply_override("early_stopping.patience=3");
  const Config again = Config::from_text(c.to_ini(), "round-trip");
  EXPECT_EQ(again.params(), c.params());
  EXPECT_EQ(tracker::param_hash(again.identity_params()), tracker::param_hash(c.identity_params()));
  EXPECT_EQ(again.integer("early_stopping.patience"), 3);
}

}  // namespace
}  // namespace stride::tools
