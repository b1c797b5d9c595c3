// The config schema: defaults, overrides, and errors that name the key.
#include <gtest/gtest.h>

#include "error_of.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "run/config.h"
#include "run/settings.h"
#include "stride/common/error.h"
#include "stride/distributed/communicator.h"

namespace stride::tools {
namespace {

std::string error_of(const std::function<void()>& body) { return ::stride::testing::error_of<ConfigError>(body); }

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
  EXPECT_EQ(c.grid()[1].values, (std::vector<std::string>{"conv(8,3) relu flatten dense(4)", "flatten dense(4)"}));
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
  const Config same =
      Config::from_text("[train]\nnesterov = true\nmomentum = 0.9\noptimizer = sgd\nbeta1 = 0.90\n", "b.ini");
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

TEST(Config, ValuesOutsideTheirRangeAreRefusedNamingKeyValueAndRange) {
  const std::pair<std::string, std::string> bad[] = {
      {"train.epochs=-3", ">= 1"},
      {"train.epochs=0", ">= 1"},
      {"train.threads=-2", "in [0, 4096]"},
      {"data.batch_size=0", ">= 1"},
      {"data.eval_batch_size=-1", ">= 1"},
      {"data.prefetch=0", "in [1, 2147483647]"},
      {"data.prefetch=99999999999", "in [1, 2147483647]"},
      {"data.workers=0", "in [1, 256]"},
      {"data.limit=-5", ">= 0"},
      {"train.lr=0", "> 0"},
      {"train.lr=-0.1", "> 0"},
      {"train.momentum=1", "in [0, 1)"},
      {"train.beta2=1.5", "in [0, 1)"},
      {"train.label_smoothing=1", "in [0, 1)"},
      {"train.weight_decay=-1e-4", ">= 0"},
      {"early_stopping.patience=-1", ">= 0"},
      {"reduce_lr.factor=1", "in (0, 1)"},
      {"reduce_lr.cooldown=-1", ">= 0"},
      {"augment.zoom=1", "in [0, 1)"},
      {"train.collective_timeout=-1", ">= 0"},
      {"experiment.seed=-1", ">= 0"},
      {"model.unfreeze_epoch=-2", ">= -1"},
      {"train.bucket_mb=0", "in (0, 65536)"},
  };
  for (const auto& [assignment, range] : bad) {
    Config c = Config::from_text("", "a.ini");
    const std::string e = error_of([&c, &line = assignment] { c.apply_override(line); });
    const std::string key = assignment.substr(0, assignment.find('='));
    const std::string value = assignment.substr(assignment.find('=') + 1);
    EXPECT_NE(e.find("--set: " + key + " = " + value + ": must be " + range), std::string::npos)
        << assignment << " -> '" << e << "'";
  }
  // The same keys at the edge of their range are taken.
  const Config edge =
      Config::from_text("[train]\nepochs = 1\nthreads = 0\nmomentum = 0\n[data]\nprefetch = 1\n", "a.ini");
  EXPECT_EQ(edge.integer("train.epochs"), 1);
  // Files and grid lists are checked the same way.
  const std::string in_file = error_of([] { Config::from_text("[train]\nepochs = -3\n", "f.ini"); });
  EXPECT_NE(in_file.find("f.ini: train.epochs = -3: must be >= 1"), std::string::npos) << in_file;
  const std::string in_grid = error_of([] { Config::from_text("[grid]\ntrain.lr = 0.1, -0.1\n", "g.ini"); });
  EXPECT_NE(in_grid.find("g.ini [grid]: train.lr = -0.1: must be > 0"), std::string::npos) << in_grid;
}

TEST(Config, EveryNumericKeyHasARange) {
  // Keys whose every finite value means something (a delta, a threshold).
  const std::vector<std::string_view> any_value = {"early_stopping.min_delta", "early_stopping.baseline"};
  for (const KeySpec& spec : config_schema()) {
    if (spec.kind != ValueKind::integer && spec.kind != ValueKind::real) continue;
    if (std::find(any_value.begin(), any_value.end(), spec.key) != any_value.end()) continue;
    EXPECT_TRUE(std::isfinite(spec.bounds.low) || std::isfinite(spec.bounds.high)) << spec.key << " has no range";
    if (!spec.default_value.empty()) {
      EXPECT_TRUE(spec.bounds.contains(std::stod(std::string(spec.default_value)))) << spec.key << " default";
    }
  }
}

TEST(Config, ExperimentNamesThatLeaveTheCheckpointDirectoryAreRefused) {
  Config c = Config::from_text("", "a.ini");
  const std::string e = error_of([&] { c.apply_override("experiment.name=../../x"); });
  EXPECT_NE(e.find("--set: experiment.name = '../../x': must not contain '/'"), std::string::npos) << e;
  const std::string in_file = error_of([] { Config::from_text("[experiment]\nname = -rf\n", "f.ini"); });
  EXPECT_NE(in_file.find("f.ini: experiment.name = '-rf'"), std::string::npos) << in_file;
  c.apply_override("experiment.name=fashion_v2");
  EXPECT_EQ(c.text("experiment.name"), "fashion_v2");
}

TEST(CheckMemory, EachPartPastTheMachineIsRefusedNamingItsKeys) {
  const auto error_for = [](const std::string& layers, const std::vector<std::string>& overrides) {
    Config c = Config::from_text("[model]\nlayers = " + layers + "\n", "m.ini");
    for (const auto& o : overrides) c.apply_override(o);
    const RunSettings s = decode_settings(c);
    return error_of([&] { check_memory(s, Model::from_spec(layers, Shape{28, 28, 1}), Shape{28, 28, 1}); });
  };
  const std::string small = "conv(8,3) relu flatten dense(10)";
  EXPECT_EQ(error_for(small, {}), "");
  const std::string prefetch = error_for(small, {"data.prefetch=2000000000", "data.batch_size=4096"});
  EXPECT_NE(prefetch.find("data.prefetch = 2000000000 (data.workers = 2), data.batch_size = 4096: the loaders' "
                          "queues of 2000000001 batches of 28x28x1 images needs "),
            std::string::npos)
      << prefetch;
  EXPECT_NE(prefetch.find("of memory this machine has"), std::string::npos) << prefetch;
  const std::string batch = error_for(small, {"data.batch_size=1000000000000"});
  EXPECT_NE(batch.find("data.batch_size = 1000000000000, data.eval_batch_size = 256: the model's activations"),
            std::string::npos)
      << batch;
  const std::string model = error_for("flatten dense(100000000000)", {});
  EXPECT_NE(model.find("model.layers: 78500000000000 parameters (values, gradients and 2 optimizer moments) "
                       "needs 1256000000000000 bytes"),
            std::string::npos)
      << model;
  EXPECT_NE(error_for(small, {"data.shuffle_window=100000000000000"}).find("data.shuffle_window = 100000000000000"),
            std::string::npos);
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("stride_config_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    ::unsetenv("STRIDE_COLLECTIVE_TIMEOUT");
  }
  void TearDown() override {
    ::unsetenv("STRIDE_COLLECTIVE_TIMEOUT");
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFile, CollectiveTimeoutPrecedenceIsSetThenEnvironmentThenFileThenDefault) {
  const auto with_key = write("with.ini", "[train]\ncollective_timeout = 30\n");
  const auto without = write("without.ini", "[train]\nepochs = 1\n");
  // The schema's default is the communicator's (and the one docs/GUIDE.md states).
  EXPECT_DOUBLE_EQ(Config::load(without).real("train.collective_timeout"), CommunicatorOptions{}.timeout_s);
  EXPECT_DOUBLE_EQ(Config::load(with_key).real("train.collective_timeout"), 30);
  ::setenv("STRIDE_COLLECTIVE_TIMEOUT", "7.5", 1);
  const Config from_env = Config::load(with_key);
  EXPECT_DOUBLE_EQ(from_env.real("train.collective_timeout"), 7.5);
  EXPECT_EQ(from_env.origin("train.collective_timeout"), "STRIDE_COLLECTIVE_TIMEOUT");
  EXPECT_DOUBLE_EQ(decode_settings(from_env).collective_timeout_s, 7.5);
  EXPECT_DOUBLE_EQ(Config::load(with_key, {"train.collective_timeout=9"}).real("train.collective_timeout"), 9);
  ::setenv("STRIDE_COLLECTIVE_TIMEOUT", "soon", 1);
  const std::string e = error_of([&] { Config::load(without); });
  EXPECT_NE(e.find("STRIDE_COLLECTIVE_TIMEOUT: train.collective_timeout: expected a number, got 'soon'"),
            std::string::npos)
      << e;
}

TEST_F(ConfigFile, TheFileNameAsExperimentNameIsCheckedToo) {
  const auto hidden = write(".hidden.ini", "[train]\nepochs = 1\n");
  const std::string e = error_of([&] { Config::load(hidden); });
  EXPECT_NE(e.find("experiment.name = '.hidden': must not start with '-' or '.'"), std::string::npos) << e;
  EXPECT_EQ(Config::load(hidden, {"experiment.name=visible"}).text("experiment.name"), "visible");
}

}  // namespace
}  // namespace stride::tools
