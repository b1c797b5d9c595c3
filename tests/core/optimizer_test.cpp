// Optimizers against PyTorch's update formulas written out naively in double:
// Adam (coupled L2), AdamW (decoupled), SGD with momentum, Nesterov and weight
// decay, and clipping by global norm. Decay applies to kernels only.
#include <gtest/gtest.h>

#include <cmath>

#include "stride/core/optimizer.h"
#include "tensor_utils.h"

namespace stride::testing {
namespace {

// One parameter's naive state.
struct Naive {
  std::vector<double> w, m, v, buf;
  bool decay;
};

class OptimizerTest : public BackendTest {
 protected:
  // dense(3) on (4,): a kernel [4, 3] that decays and a bias [3] that does not.
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    model_ = std::make_unique<Model>(Model::from_spec("dense(3)", Shape{4}));
    model_->init(backend(), 7);
    naive_.clear();
    uint64_t seed = 100;
    for (Parameter* p : model_->parameters()) {
      write(backend(), p->value, random_values(p->value.elements(), seed++));
      Naive n;
      for (float x : read(backend(), p->value)) n.w.push_back(x);
      n.m.assign(n.w.size(), 0.0);
      n.v.assign(n.w.size(), 0.0);
      n.buf.assign(n.w.size(), 0.0);
      n.decay = p->decay;
      naive_.push_back(n);
    }
  }

  // Gives every parameter a fresh random gradient for step `step`; returns them.
  std::vector<Values> set_gradients(int step, float scale = 1.0f) {
    std::vector<Values> grads;
    uint64_t seed = 1000 + 10 * static_cast<uint64_t>(step);
    for (Parameter* p : model_->parameters()) {
      grads.push_back(random_values(p->grad.elements(), seed++, -scale, scale));
      write(backend(), p->grad, grads.back());
    }
    return grads;
  }

  void expect_weights_match(const char* what) {
    size_t i = 0;
    for (Parameter* p : model_->parameters()) {
      const Values got = read(backend(), p->value);
      for (size_t j = 0; j < got.size(); ++j)
        ASSERT_NEAR(got[j], naive_[i].w[j], 1e-5 * std::abs(naive_[i].w[j]) + 1e-6)
            << what << ": " << p->name << "[" << j << "]";
      ++i;
    }
  }

  std::unique_ptr<Model> model_;
  std::vector<Naive> naive_;
};
STRIDE_INSTANTIATE_BACKENDS(OptimizerTest);

void naive_adam(Naive& n, const Values& g, double lr, double wd, bool decoupled, int step, double b1 = 0.9,
                double b2 = 0.999, double eps = 1e-7) {
  const double decay = n.decay ? wd : 0.0;
  for (size_t j = 0; j < n.w.size(); ++j) {
    double grad = g[j];
    if (decoupled)
      n.w[j] *= 1 - lr * decay;  // torch.optim.AdamW
    else
      grad += decay * n.w[j];  // torch.optim.Adam(weight_decay=...)
    n.m[j] = b1 * n.m[j] + (1 - b1) * grad;
    n.v[j] = b2 * n.v[j] + (1 - b2) * grad * grad;
    const double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    n.w[j] -= lr / bc1 * n.m[j] / (std::sqrt(n.v[j]) / std::sqrt(bc2) + eps);
  }
}

void naive_sgd(Naive& n, const Values& g, double lr, double momentum, double wd, bool nesterov, int step) {
  const double decay = n.decay ? wd : 0.0;
  for (size_t j = 0; j < n.w.size(); ++j) {
    double grad = g[j] + decay * n.w[j];
    if (momentum > 0) {
      n.buf[j] = step == 1 ? grad : momentum * n.buf[j] + grad;
      grad = nesterov ? grad + momentum * n.buf[j] : n.buf[j];
    }
    n.w[j] -= lr * grad;
  }
}

TEST_P(OptimizerTest, AdamFollowsPyTorch) {
  OptimizerConfig c;
  c.kind = "adam";
  c.weight_decay = 0.01f;
  Optimizer opt(c, *model_);
  ASSERT_TRUE(naive_[0].decay);   // kernel
  ASSERT_FALSE(naive_[1].decay);  // bias
  for (int step = 1; step <= 4; ++step) {
    const auto grads = set_gradients(step);
    const float lr = 0.01f * static_cast<float>(step);  // schedules change lr between steps
    opt.step(lr);
    for (size_t i = 0; i < naive_.size(); ++i) naive_adam(naive_[i], grads[i], lr, 0.01, false, step);
    expect_weights_match("adam");
  }
  EXPECT_EQ(opt.steps(), 4);
}

TEST_P(OptimizerTest, AdamWDecaysOutsideTheMoments) {
  OptimizerConfig c;
  c.kind = "AdamW";
  c.weight_decay = 0.1f;
  c.beta1 = 0.8f;
  c.beta2 = 0.99f;
  c.epsilon = 1e-6f;
  Optimizer opt(c, *model_);
  for (int step = 1; step <= 4; ++step) {
    const auto grads = set_gradients(step);
    opt.step(0.05f);
    for (size_t i = 0; i < naive_.size(); ++i) naive_adam(naive_[i], grads[i], 0.05, 0.1, true, step, 0.8, 0.99, 1e-6);
    expect_weights_match("adamw");
  }
}

TEST_P(OptimizerTest, SgdPlainMomentumAndNesterov) {
  struct Case {
    float momentum;
    bool nesterov;
    float weight_decay;
  };
  for (const Case& k :
       {Case{0.0f, false, 0.0f}, Case{0.0f, false, 0.05f}, Case{0.9f, false, 0.0f}, Case{0.9f, true, 0.01f}}) {
    SCOPED_TRACE(::testing::Message() << "momentum " << k.momentum << " nesterov " << k.nesterov << " wd "
                                      << k.weight_decay);
    SetUp();  // fresh weights and naive state
    OptimizerConfig c;
    c.kind = "sgd";
    c.momentum = k.momentum;
    c.nesterov = k.nesterov;
    c.weight_decay = k.weight_decay;
    Optimizer opt(c, *model_);
    EXPECT_EQ(opt.slots().size(), k.momentum > 0 ? 2u : 0u);
    for (int step = 1; step <= 4; ++step) {
      const auto grads = set_gradients(step);
      opt.step(0.1f);
      for (size_t i = 0; i < naive_.size(); ++i)
        naive_sgd(naive_[i], grads[i], 0.1, k.momentum, k.weight_decay, k.nesterov, step);
      expect_weights_match("sgd");
    }
  }
}

TEST_P(OptimizerTest, ClipNormScalesToTheGlobalNormAndReportsIt) {
  OptimizerConfig c;
  c.kind = "sgd";
  c.clip_norm = 0.5f;
  Optimizer opt(c, *model_);
  const auto grads = set_gradients(1, 2.0f);  // norm well above 0.5
  double sum = 0;
  for (const auto& g : grads)
    for (float x : g) sum += static_cast<double>(x) * x;
  const double norm = std::sqrt(sum);
  ASSERT_GT(norm, 0.5);
  opt.step(1.0f);
  EXPECT_NEAR(read(backend(), opt.gradient_norm())[0], norm, 1e-5 * norm);
  for (size_t i = 0; i < naive_.size(); ++i) {
    Values clipped = grads[i];
    for (float& x : clipped) x = static_cast<float>(x * 0.5 / norm);
    naive_sgd(naive_[i], clipped, 1.0, 0.0, 0.0, false, 1);
  }
  expect_weights_match("clipped");

  // Under the limit nothing changes.
  const auto small = set_gradients(2, 0.01f);
  opt.step(1.0f);
  EXPECT_LT(read(backend(), opt.gradient_norm())[0], 0.5);
  for (size_t i = 0; i < naive_.size(); ++i) naive_sgd(naive_[i], small[i], 1.0, 0.0, 0.0, false, 2);
  expect_weights_match("unclipped");
}

TEST_P(OptimizerTest, FrozenParametersStayPut) {
  OptimizerConfig c;
  c.kind = "adam";
  Optimizer opt(c, *model_);
  model_->freeze_first(1);
  set_gradients(1);
  opt.step(0.1f);
  expect_weights_match("frozen");  // naive weights never moved
  EXPECT_EQ(model_->trainable_parameter_count(), 0);
  // Slots exist for every parameter, frozen or not, so unfreezing keeps them.
  EXPECT_EQ(opt.slots().size(), 4u);
}

TEST_P(OptimizerTest, BadConfigsNameTheKey) {
  auto message = [&](const OptimizerConfig& c) {
    try {
      Optimizer opt(c, *model_);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  OptimizerConfig c;
  c.kind = "adamax";
  EXPECT_NE(message(c).find("train.optimizer"), std::string::npos);
  c = OptimizerConfig{};
  c.kind = "sgd";
  c.nesterov = true;
  EXPECT_NE(message(c).find("train.nesterov"), std::string::npos);
  c = OptimizerConfig{};
  c.momentum = 1.0f;
  EXPECT_NE(message(c).find("train.momentum"), std::string::npos);
}

}  // namespace
}  // namespace stride::testing
