// The ONNX graph the exporter builds, read back through Debian's ONNX library:
// the ops each layer becomes, Keras' "same" pads, OIHW kernels, the NHWC
// flatten, the loader's normalisation constants, and — through ONNX's own
// checker and shape inference — every layer's output shape equal to Stride's.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "export/onnx_export.h"
#include "stride/common/error.h"
#include "stride/data/augment.h"

namespace stride::exporter {
namespace {

// Every layer kind on a 13x11x3 input, so "same" padding is asymmetric somewhere.
constexpr const char* kEveryLayer =
    "conv(6,3,stride=2,padding=same) leaky_relu(0.2) conv(8,3x2,padding=same,bias=false) bn elu(0.7) "
    "avgpool(3,stride=2,padding=same) residual(8) maxpool(2,stride=1,padding=same) residual(12,stride=2) "
    "dropout(0.3) flatten dense(10,bias=false) bn relu dense(4)";

class OnnxExportTest : public ::testing::Test {
 protected:
  void build(const std::string& spec, const Shape& input, int64_t classes) {
    config_.spec = spec;
    config_.input = input;
    config_.classes = classes;
    config_.class_names.clear();
    for (int64_t k = 0; k < classes; ++k) config_.class_names.push_back(fmt::format("c{}", k));
    config_.mean.assign(static_cast<size_t>(input[2]), 0.3);
    config_.std.assign(static_cast<size_t>(input[2]), 0.25);
    config_.mean[0] = 0.1;
    config_.std[0] = 0.5;
    model_ = std::make_unique<Model>(Model::from_spec(spec, input));
    model_->init(*backend_, 7);
    proto_ = model_to_onnx(config_, *model_);
  }

  const onnx::NodeProto& node(const std::string& name) const {
    for (const auto& n : proto_.graph().node())
      if (n.name() == name) return n;
    throw std::runtime_error("no node " + name);
  }

  const onnx::TensorProto& initializer(const std::string& name) const {
    for (const auto& t : proto_.graph().initializer())
      if (t.name() == name) return t;
    throw std::runtime_error("no initializer " + name);
  }

  static std::vector<float> floats(const onnx::TensorProto& t) {
    std::vector<float> out(t.raw_data().size() / sizeof(float));
    std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());
    return out;
  }

  static std::vector<int64_t> ints(const onnx::NodeProto& n, const std::string& attribute) {
    for (const auto& a : n.attribute())
      if (a.name() == attribute) return {a.ints().begin(), a.ints().end()};
    return {};
  }

  std::vector<float> host(const std::string& layer, const std::string& name) {
    for (const StateEntry& e : model_->state()) {
      if (e.layer != layer || e.name != name) continue;
      std::vector<float> out(static_cast<size_t>(e.tensor->elements()));
      backend_->copy_to_host(*e.tensor, out.data());
      return out;
    }
    throw std::runtime_error("no state " + layer + "/" + name);
  }

  std::unique_ptr<Backend> backend_ = make_cpu_backend(1);
  ModelConfig config_;
  std::unique_ptr<Model> model_;
  onnx::ModelProto proto_;
};

TEST_F(OnnxExportTest, EveryLayerBecomesItsOps) {
  build(kEveryLayer, Shape{13, 11, 3}, 4);
  std::vector<std::string> ops;
  for (const auto& n : proto_.graph().node()) ops.push_back(n.op_type());
  std::vector<std::string> expected = {"Mul",  "Add",       "Transpose",  // normalise, NHWC -> NCHW
                                       "Conv", "LeakyRelu", "Conv",      "BatchNormalization", "Elu", "AveragePool"};
  expected.insert(expected.end(), {"Conv", "BatchNormalization", "Relu", "Conv", "BatchNormalization", "Add",
                                   "Relu"});  // identity shortcut
  expected.push_back("MaxPool");
  expected.insert(expected.end(), {"Conv", "BatchNormalization", "Relu", "Conv", "BatchNormalization", "Conv",
                                   "BatchNormalization", "Add", "Relu"});  // projecting shortcut
  expected.insert(expected.end(),
                  {"Identity", "Transpose", "Flatten", "Gemm", "BatchNormalization", "Relu", "Gemm", "Softmax"});
  EXPECT_EQ(ops, expected);
  EXPECT_EQ(proto_.opset_import(0).version(), kOnnxOpset);
  ASSERT_EQ(proto_.graph().input_size(), 1);
  EXPECT_EQ(proto_.graph().input(0).name(), kOnnxInput);
  EXPECT_EQ(proto_.graph().output(0).name(), kOnnxOutput);
}

TEST_F(OnnxExportTest, PassesTheOnnxCheckerAndInfersStrideShapes) {
  build(kEveryLayer, Shape{13, 11, 3}, 4);
  EXPECT_NO_THROW(onnx::checker::check_model(proto_));
  onnx::shape_inference::InferShapes(proto_, onnx::OpSchemaRegistry::Instance(), onnx::ShapeInferenceOptions(true, 1));
  std::map<std::string, std::vector<int64_t>> inferred;
  for (const auto& v : proto_.graph().value_info()) {
    std::vector<int64_t> dims;
    for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    inferred[v.name()] = dims;
  }
  for (size_t i = 0; i < model_->size(); ++i) {
    const std::string name = model_->layer_name(i);
    const Shape& s = model_->layer(i).output_shape();
    const std::vector<int64_t> want = s.rank() == 3 ? std::vector<int64_t>{-1, s[2], s[0], s[1]}  // NCHW
                                                    : std::vector<int64_t>{-1, s[0]};
    ASSERT_TRUE(inferred.count(name)) << name;
    EXPECT_EQ(inferred[name], want) << name << " (" << model_->layer(i).spec() << ")";
  }
}

TEST_F(OnnxExportTest, SamePaddingPutsTheExtraPixelAfter) {
  build(kEveryLayer, Shape{13, 11, 3}, 4);
  // conv 3x3 stride 2 on 13x11: 7x6 out, 2 padding rows and 2 columns, split evenly.
  EXPECT_EQ(ints(node("00_conv2d"), "pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(ints(node("00_conv2d"), "strides"), (std::vector<int64_t>{2, 2}));
  // conv 3x2 on 7x6: one padding column, after (right). ONNX order: top, left, bottom, right.
  EXPECT_EQ(ints(node("02_conv2d"), "pads"), (std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(ints(node("02_conv2d"), "kernel_shape"), (std::vector<int64_t>{3, 2}));
  // avgpool 3 stride 2 on 7x6: 4x3 out; 2 rows split, 1 column after.
  const onnx::NodeProto& pool = node("05_avg_pool2d");
  EXPECT_EQ(ints(pool, "pads"), (std::vector<int64_t>{1, 0, 1, 1}));
  bool excludes_padding = false;
  for (const auto& a : pool.attribute()) excludes_padding |= a.name() == "count_include_pad" && a.i() == 0;
  EXPECT_TRUE(excludes_padding) << "average pooling must not count padded pixels";
}

TEST_F(OnnxExportTest, LayerSettingsComeFromTheSpec) {
  build("conv(4,3) leaky_relu(0.2) bn(epsilon=0.01) elu(0.7) conv(4,3) bn gap dense(2)", Shape{9, 9, 1}, 2);
  const auto real = [&](const std::string& name, const std::string& attribute) {
    for (const auto& a : node(name).attribute())
      if (a.name() == attribute) return a.f();
    throw std::runtime_error(name + " has no " + attribute);
  };
  EXPECT_EQ(real("01_leaky_relu", "alpha"), 0.2f);
  EXPECT_EQ(real("02_batch_norm", "epsilon"), 0.01f);
  EXPECT_EQ(real("03_elu", "alpha"), 0.7f);
  EXPECT_EQ(real("05_batch_norm", "epsilon"), 1e-3f);  // Keras' default
}

TEST_F(OnnxExportTest, KernelsAreStoredOihwAndDenseKernelsAsTheyAre) {
  build(kEveryLayer, Shape{13, 11, 3}, 4);
  const onnx::TensorProto& kernel = initializer("00_conv2d/kernel");
  ASSERT_EQ(std::vector<int64_t>(kernel.dims().begin(), kernel.dims().end()), (std::vector<int64_t>{6, 3, 3, 3}));
  const std::vector<float> oihw = floats(kernel), hwio = host("00_conv2d", "kernel");
  // Element (o, i, y, x) against HWIO (y, x, i, o) for a few corners and inner points.
  for (const auto& [o, i, y, x] : {std::array<int64_t, 4>{0, 0, 0, 0}, {5, 2, 2, 2}, {3, 1, 0, 2}, {1, 2, 1, 0}})
    EXPECT_EQ(oihw[static_cast<size_t>(((o * 3 + i) * 3 + y) * 3 + x)],
              hwio[static_cast<size_t>(((y * 3 + x) * 3 + i) * 6 + o)])
        << o << i << y << x;
  EXPECT_EQ(floats(initializer("14_dense/kernel")), host("14_dense", "kernel"));
  EXPECT_EQ(floats(initializer("06_residual/conv1/kernel")).size(), host("06_residual", "conv1/kernel").size());
  EXPECT_EQ(floats(initializer("12_batch_norm/moving_variance")), host("12_batch_norm", "moving_variance"));
}

TEST_F(OnnxExportTest, FlattenTransposesBackToNhwc) {
  build(kEveryLayer, Shape{13, 11, 3}, 4);
  EXPECT_EQ(ints(node("10_flatten/to_nhwc"), "perm"), (std::vector<int64_t>{0, 2, 3, 1}));
  EXPECT_EQ(node("10_flatten").input(0), "10_flatten/to_nhwc");
  EXPECT_EQ(ints(node("to_nchw"), "perm"), (std::vector<int64_t>{0, 3, 1, 2}));
}

TEST_F(OnnxExportTest, NormalisationIsTheLoadersArithmetic) {
  build("conv(2,3) flatten dense(2)", Shape{5, 5, 3}, 2);
  const std::vector<float> scale = floats(initializer("normalise/scale_factor"));
  const std::vector<float> shift = floats(initializer("normalise/shift"));
  ASSERT_EQ(scale.size(), 3u);
  std::vector<float> image(5 * 5 * 3);
  for (size_t p = 0; p < image.size(); ++p) image[p] = static_cast<float>((p * 37) % 256);
  std::vector<float> normalised = image;
  data::normalize(normalised.data(), data::ImageShape{5, 5, 3}, config_.mean.data(), config_.std.data());
  for (size_t p = 0; p < image.size(); ++p) EXPECT_EQ(normalised[p], image[p] * scale[p % 3] + shift[p % 3]) << p;
}

TEST_F(OnnxExportTest, MetadataNamesTheClasses) {
  build("conv(2,3) gap dense(3)", Shape{6, 6, 1}, 3);
  std::map<std::string, std::string> meta;
  for (const auto& m : proto_.metadata_props()) meta[m.key()] = m.value();
  EXPECT_EQ(nlohmann::json::parse(meta.at("class_names")), nlohmann::json({"c0", "c1", "c2"}));
  EXPECT_EQ(nlohmann::json::parse(meta.at("stride.model_config")).at("spec"), "conv(2,3) gap dense(3)");
}

TEST_F(OnnxExportTest, AModelWhoseOutputsAreNotTheClassesIsRefused) {
  build("conv(2,3) gap dense(3)", Shape{6, 6, 1}, 3);
  config_.classes = 5;
  EXPECT_THROW(model_to_onnx(config_, *model_), CheckpointError);
}

}  // namespace
}  // namespace stride::exporter
