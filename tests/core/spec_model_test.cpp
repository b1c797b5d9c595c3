// The layer spec parser, named architectures and the model built from them:
// valid specs give the right layers, bad ones a ConfigError naming the column
// and token (and the closest name for a misspelt one); the seed CNN has
// Keras' shapes and parameter count.
#include <gtest/gtest.h>

#include <string>

#include "stride/core/layers.h"
#include "stride/core/model.h"
#include "stride/core/spec.h"
#include "tensor_utils.h"

namespace stride::testing {
namespace {

const char* kSeedCnn =
    "conv(32,3) relu maxpool(2) conv(64,3) relu maxpool(2) conv(64,3) relu flatten dense(64) relu dense(10)";

std::string spec_error(const std::string& spec) {
  try {
    parse_layers(spec);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(SpecParser, EveryLayerKindWithArguments) {
  const auto layers = parse_layers(
      "conv(32,3) CONV2D(8, 3x5, stride=2, padding=same, bias=false) relu leaky_relu(alpha=0.1) elu "
      "maxpool(2) avgpool(3,stride=1,padding=same) max_pool(2x3) bn batchnorm(momentum=0.9,epsilon=1e-5) "
      "dropout(0.25) residual(64) residual(128,stride=2) gap global_avg_pool flatten dense(10) dense(5,bias=false)");
  std::vector<std::string> kinds, specs;
  for (const auto& l : layers) kinds.push_back(l->kind()), specs.push_back(l->spec());
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"conv2d", "conv2d", "relu", "leaky_relu", "elu", "max_pool2d", "avg_pool2d",
                                      "max_pool2d", "batch_norm", "batch_norm", "dropout", "residual", "residual",
                                      "global_avg_pool", "global_avg_pool", "flatten", "dense", "dense"}));
  EXPECT_EQ(specs, (std::vector<std::string>{
                       "conv(32,3)", "conv(8,3x5,stride=2,padding=same,bias=false)", "relu", "leaky_relu(0.1)",
                       "elu(1)", "maxpool(2)", "avgpool(3,stride=1,padding=same)", "maxpool(2x3)", "bn",
                       "bn(momentum=0.9,epsilon=1e-05)", "dropout(0.25)", "residual(64)", "residual(128,stride=2)",
                       "gap", "gap", "flatten", "dense(10)", "dense(5,bias=false)"}));
}

TEST(SpecParser, CanonicalSpecRoundTrips) {
  const std::string spec = arch_spec("vgg_bn", 10);
  const Model model = Model::from_spec(spec, Shape{32, 32, 3});
  EXPECT_EQ(Model::from_spec(model.spec(), Shape{32, 32, 3}).spec(), model.spec());
}

TEST(SpecParser, MisspeltLayerNamesTheColumnTokenAndSuggestion) {
  const std::string message = spec_error("conv(32,3) relu maxpol(2) flatten dense(10)");
  EXPECT_NE(message.find("column 17"), std::string::npos) << message;
  EXPECT_NE(message.find("'maxpol(2)'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'maxpool'"), std::string::npos) << message;
  EXPECT_NE(message.find("model.layers"), std::string::npos) << message;
  // Nothing near: no suggestion.
  EXPECT_EQ(spec_error("transformer(8)").find("did you mean"), std::string::npos);
}

TEST(SpecParser, BadArgumentsNameTheToken) {
  struct Case {
    const char* spec;
    const char* expected;
  };
  for (const Case& c :
       {Case{"conv(32)", "missing argument 'kernel'"}, Case{"conv(kernel=3)", "missing argument 'filters'"},
        Case{"conv(32,3,strid=2)", "did you mean 'stride'"},
        Case{"conv(32,3,padding=full)", "padding must be valid or same"}, Case{"conv(32,0)", "'kernel'"},
        Case{"conv(32,3x3x3)", "'kernel' must be N or HxW"}, Case{"dense(ten)", "'units' must be an integer"},
        Case{"dense(-4)", "'units' must be positive"}, Case{"dense(10,bias=maybe)", "'bias' must be true or false"},
        Case{"dense(units=10,5)", "positional argument '5' after a keyword"}, Case{"dense(10,units=10)", "given twice"},
        Case{"dense(10,)", "empty argument"}, Case{"relu(2)", "at most 0 positional"},
        Case{"dropout(1.5)", "rate must be in [0, 1)"}, Case{"dropout", "rate must be in [0, 1)"},
        Case{"bn(momentum=1)", "momentum must be in [0, 1)"}, Case{"dense(10", "missing ')'"},
        Case{"conv(32,3) ) relu", "expected a layer name"}}) {
    const std::string message = spec_error(c.spec);
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.spec << " -> " << message;
    EXPECT_NE(message.find("column "), std::string::npos) << c.spec << " -> " << message;
  }
  EXPECT_NE(spec_error("   ").find("no layers"), std::string::npos);
}

TEST(SpecParser, ColumnPointsAtTheFaultyToken) {
  const std::string message = spec_error("conv(32,3)  relu  dense(x)");
  EXPECT_NE(message.find("column 19: 'dense(x)'"), std::string::npos) << message;
}

TEST(ArchSpec, NamedArchitecturesAndUnknownOnes) {
  EXPECT_EQ(arch_spec("seed_cnn", 10), kSeedCnn);
  for (const std::string& name : arch_names()) {
    SCOPED_TRACE(name);
    const Model model = Model::from_spec(arch_spec(name, 7), Shape{32, 32, 3});
    EXPECT_EQ(model.output_shape(), Shape{7});
  }
  try {
    arch_spec("resnet8", 10);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'resnet8'"), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'resnet9'"), std::string::npos) << message;
  }
}

class ModelTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(ModelTest);

TEST_P(ModelTest, SeedCnnHasKerasShapesAndParameterCount) {
  Model model = Model::from_spec(kSeedCnn, Shape{28, 28, 1});
  model.init(backend(), 1);
  EXPECT_EQ(model.parameter_count(), 93322);
  EXPECT_EQ(model.trainable_parameter_count(), 93322);
  const auto summary = model.summary();
  // conv relu pool conv relu pool conv relu flatten dense relu dense, as Keras' model.summary() shows them.
  const Shape shapes[] = {Shape{26, 26, 32}, Shape{26, 26, 32}, Shape{13, 13, 32}, Shape{11, 11, 64},
                          Shape{11, 11, 64}, Shape{5, 5, 64},   Shape{3, 3, 64},   Shape{3, 3, 64},
                          Shape{576},        Shape{64},         Shape{64},         Shape{10}};
  const int64_t params[] = {320, 0, 0, 18496, 0, 0, 36928, 0, 0, 36928, 0, 650};
  ASSERT_EQ(summary.size(), 12u);
  for (size_t i = 0; i < summary.size(); ++i) {
    SCOPED_TRACE(summary[i].name);
    EXPECT_EQ(summary[i].output, shapes[i]);
    EXPECT_EQ(summary[i].trainable_parameters, params[i]);
    EXPECT_EQ(summary[i].non_trainable_parameters, 0);
  }
  EXPECT_EQ(summary[0].name, "00_conv2d");
  EXPECT_EQ(summary[11].name, "11_dense");
  EXPECT_EQ(summary[0].flops, 2 * 26 * 26 * 32 * 9);
}

TEST_P(ModelTest, BatchNormStatisticsCountAsNonTrainable) {
  Model model = Model::from_spec("conv(4,3,bias=false) bn relu gap dense(2)", Shape{6, 6, 3});
  model.init(backend(), 1);
  const auto summary = model.summary();
  EXPECT_EQ(summary[1].trainable_parameters, 8);
  EXPECT_EQ(summary[1].non_trainable_parameters, 8);
  EXPECT_EQ(model.parameter_count(), 108 + 16 + 10);
  model.freeze_first(2);
  EXPECT_EQ(model.trainable_parameter_count(), 10);
  EXPECT_EQ(model.parameter_count(), 108 + 16 + 10);
}

TEST_P(ModelTest, SameSeedSameWeights) {
  Model a = Model::from_spec("conv(4,3) flatten dense(3)", Shape{5, 5, 2});
  Model b = Model::from_spec("conv(4,3) flatten dense(3)", Shape{5, 5, 2});
  Model c = Model::from_spec("conv(4,3) flatten dense(3)", Shape{5, 5, 2});
  a.init(backend(), 42);
  b.init(backend(), 42);
  c.init(backend(), 43);
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    EXPECT_EQ(read(backend(), a.parameters()[i]->value), read(backend(), b.parameters()[i]->value));
    if (a.parameters()[i]->name == "kernel") {
      EXPECT_NE(read(backend(), a.parameters()[i]->value), read(backend(), c.parameters()[i]->value));
    }
  }
}

TEST(ModelMemory, CountsFromShapesBeforeAnythingIsAllocated) {
  const Model model = Model::from_spec("conv(4,3) relu flatten dense(2)", Shape{6, 6, 1});
  // Shapes alone give the summary's counts: no init, no backend.
  Model counted = Model::from_spec("conv(4,3) bn relu flatten dense(2)", Shape{6, 6, 1});
  const auto rows = counted.summary();
  EXPECT_EQ(rows[0].trainable_parameters, 40);     // 4*9 + 4
  EXPECT_EQ(rows[1].non_trainable_parameters, 8);  // the moving mean and variance of 4 channels
  const Model::Memory m = model.memory_needed(8);
  // Arena slots of 16 floats: kernel 36 -> 48, bias 4 -> 16, dense kernel 64*2 = 128, bias 2 -> 16.
  EXPECT_EQ(m.parameters, 48 + 16 + 128 + 16);
  EXPECT_EQ(m.parameter_bytes, m.parameters * 2 * 4);
  // conv output 4x4x4 (relu fuses into it and is a view), flatten is a view, dense output 2 and its input
  // gradient 64: batches of 8, floats.
  EXPECT_EQ(m.activation_bytes, 8 * (64 + 2 + 64) * 4);
}

TEST(ModelMemory, AModelPastTheMachineIsRefusedBeforeAllocating) {
  // 785 x 10^11 weights and biases: 628 TB of values and gradients.
  Model model = Model::from_spec("flatten dense(100000000000)", Shape{28, 28, 1});
  auto backend = make_cpu_backend(1);
  try {
    model.init(*backend, 1);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("model.layers: the parameters' values and gradients needs 628000000000000 bytes"),
              std::string::npos)
        << message;
  }
  Model wide = Model::from_spec("conv(100000,3) gap dense(2)", Shape{1000, 1000, 1});
  wide.init(*backend, 1);
  EXPECT_THROW(wide.reserve(1 << 20), ConfigError);
  // Sizes past 64 bits are an error naming the layer, not a wrapped number.
  const Model overflow = Model::from_spec("flatten dense(4000000000000000000)", Shape{28, 28, 1});
  try {
    overflow.memory_needed(1);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers: layer 2 'dense(4000000000000000000)'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("overflows 64-bit arithmetic"), std::string::npos) << e.what();
  }
}

TEST(ModelBuild, ShapeErrorsNameTheLayer) {
  try {
    Model::from_spec("conv(8,7) conv(8,7) flatten dense(2)", Shape{10, 10, 1});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("layer 2 'conv(8,7)'"), std::string::npos) << message;
  }
  EXPECT_THROW(Model::from_spec("conv(8,3)", Shape{10, 10, 1}), ConfigError);           // not flat at the end
  EXPECT_THROW(Model::from_spec("conv(8,3) dense(2)", Shape{10, 10, 1}), ConfigError);  // dense on an image
}

}  // namespace
}  // namespace stride::testing
