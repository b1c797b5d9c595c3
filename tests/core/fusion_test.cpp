// The model's execution plan: activations fused into the layer before them
// become views, yet the model computes what the same layers run one by one
// compute — outputs and every gradient, in training and inference mode and
// with a frozen prefix. Also the parameter arena the model allocates.
#include <gtest/gtest.h>

#include "gradient_check.h"
#include "stride/core/layers.h"
#include "stride/core/model.h"
#include "stride/core/spec.h"

namespace stride::testing {
namespace {

class FusionTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(FusionTest);

// The spec's layers built, initialised and run one by one, with nothing fused.
struct Chain {
  std::vector<LayerPtr> layers;
  std::vector<Tensor> outputs, grads;

  Chain(Backend& backend, const std::string& spec, const Shape& input, int64_t batch) : layers(parse_layers(spec)) {
    Shape shape = input;
    Rng rng(1, 2);
    for (auto& layer : layers) {
      shape = layer->build(shape);
      layer->init_parameters(backend, rng);
      layer->reserve(backend, batch);
    }
  }
  const Tensor& forward(Context& ctx, const Tensor& x) {
    outputs.clear();
    outputs.reserve(layers.size());  // `in` points into it
    const Tensor* in = &x;
    for (size_t i = 0; i < layers.size(); ++i) {
      ctx.layer = static_cast<int>(i);  // dropout masks follow the layer index, as in the model
      const Shape shape = layers[i]->output_shape().with_batch(x.dim(0));
      if (layers[i]->is_view()) {  // flatten
        outputs.push_back(in->view(shape));
      } else {
        outputs.emplace_back(ctx.backend, shape);
        layers[i]->forward(ctx, *in, outputs.back());
      }
      in = &outputs.back();
    }
    return outputs.back();
  }
  void backward(Context& ctx, const Tensor& x, const Tensor& dy) {
    Tensor grad = dy;
    for (size_t i = layers.size(); i-- > 0;) {
      ctx.layer = static_cast<int>(i);
      const Shape shape = layers[i]->input_shape().with_batch(x.dim(0));
      if (layers[i]->is_view()) {
        grad = grad.view(shape);
        continue;
      }
      Tensor dx(ctx.backend, shape);
      layers[i]->backward(ctx, i == 0 ? x : outputs[i - 1], outputs[i], grad, dx);
      grad = dx;
    }
  }
};

void copy_parameters(Backend& backend, Model& model, Chain& chain) {
  size_t i = 0;
  std::vector<Parameter*> ours;
  for (auto& layer : chain.layers)
    for (Parameter* p : layer->parameters()) ours.push_back(p);
  for (Parameter* p : model.parameters()) backend.copy(p->value, ours.at(i++)->value);
  ASSERT_EQ(i, ours.size());
}

void expect_same_run(Backend& backend, const std::string& spec, const Shape& input, Mode mode, size_t frozen) {
  SCOPED_TRACE(spec);
  const int64_t n = 4;
  Model model = Model::from_spec(spec, input);
  model.init(backend, 7);
  model.freeze_first(frozen);
  model.reserve(n);
  Chain chain(backend, spec, input, n);
  copy_parameters(backend, model, chain);
  for (size_t i = 0; i < frozen; ++i) chain.layers[i]->set_trainable(false);

  Tensor x = make_tensor(backend, input.with_batch(n), random_values(input.elements() * n, 9));
  Context ctx{backend, mode, 5, 3};
  const Values fused_out = read(backend, model.forward(ctx, x));
  const Values chain_out = read(backend, chain.forward(ctx, x));
  EXPECT_TRUE(all_close(fused_out, chain_out, 1e-5, 1e-6)) << "outputs";
  const Tensor dy = make_tensor(backend, Shape{n, model.output_shape()[0]}, random_values(n * model.output_shape()[0], 10));
  model.backward(ctx, dy);
  chain.backward(ctx, x, dy);
  std::vector<Parameter*> ours;
  for (auto& layer : chain.layers)
    for (Parameter* p : layer->parameters()) ours.push_back(p);
  size_t i = 0;
  for (Parameter* p : model.parameters()) {
    Parameter* reference = ours.at(i++);
    if (!p->trainable) continue;
    SCOPED_TRACE(p->name);
    EXPECT_TRUE(all_close(read(backend, p->grad), read(backend, reference->grad), 1e-4, 1e-5));
  }
}

const char* const kSpecs[] = {
    "conv(4,3) relu maxpool(2) conv(6,3,padding=same) bn relu flatten dense(5) relu dense(3)",
    "conv(4,3,stride=2,padding=same) leaky_relu(0.1) conv(5,3) elu(1) gap dense(6) elu(0.5) dense(3)",
    "conv(4,3) bn relu dropout(0.3) conv(4,3) relu flatten dense(3)",
};

TEST_P(FusionTest, FusedModelComputesWhatItsLayersComputeOneByOne) {
  for (const char* spec : kSpecs) {
    expect_same_run(backend(), spec, Shape{9, 9, 2}, Mode::training, 0);
    expect_same_run(backend(), spec, Shape{9, 9, 2}, Mode::inference, 0);
    expect_same_run(backend(), spec, Shape{9, 9, 2}, Mode::training, 3);
  }
}

TEST_P(FusionTest, ActivationsAfterFusableLayersBecomeViews) {
  Model model = Model::from_spec("conv(4,3) relu maxpool(2) relu flatten dense(5) relu dense(3)", Shape{8, 8, 1});
  model.init(backend(), 1);
  EXPECT_FALSE(model.layer(1).is_view());  // nothing planned before reserve
  model.reserve(2);
  EXPECT_TRUE(model.layer(1).is_view());   // into the convolution
  EXPECT_FALSE(model.layer(3).is_view());  // after pooling: runs on its own
  EXPECT_TRUE(model.layer(6).is_view());   // into the dense layer
  EXPECT_EQ(model.layer_name(1), "01_relu");  // names and indices stay
}

TEST_P(FusionTest, ParametersLiveInOneAlignedArena) {
  Model model = Model::from_spec("conv(3,3) bn relu flatten dense(5) dense(2)", Shape{5, 5, 1});
  model.init(backend(), 1);
  const ParameterArena& arena = model.arena();
  int64_t elements = 0;
  for (const ArenaEntry& e : arena.entries) {
    EXPECT_EQ(e.offset % 16, 0) << e.parameter->name;
    EXPECT_EQ(static_cast<const char*>(e.parameter->value.raw()),
              static_cast<const char*>(arena.values.raw()) + e.offset * 4);
    EXPECT_EQ(static_cast<const char*>(e.parameter->grad.raw()),
              static_cast<const char*>(arena.grads.raw()) + e.offset * 4);
    elements += e.parameter->shape.elements();
  }
  EXPECT_EQ(elements, model.parameter_count() - 2 * 3);  // BN's moving statistics are buffers
  std::vector<ArenaSegment> segments;
  arena.trainable_segments(segments);
  // kernel (decay) | bias, gamma, beta (no decay) | kernel | bias | kernel | bias
  ASSERT_EQ(segments.size(), 6u);
  EXPECT_TRUE(segments[0].decay);
  EXPECT_FALSE(segments[1].decay);
  model.freeze_first(3);
  arena.trainable_segments(segments);
  ASSERT_EQ(segments.size(), 4u);
  EXPECT_EQ(segments[0].offset, arena.entries[4].offset);  // the first dense kernel
}

}  // namespace
}  // namespace stride::testing
